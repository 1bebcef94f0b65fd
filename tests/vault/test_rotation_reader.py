"""A long-running process keeps working across a ``vault rotate-key`` run by another process.

It loaded the master key (here a key file) when it started; after the rotation every credential is
sealed with the new key. The vault reads its key from its source again when it meets a record
sealed with a key it does not hold, so the next call opens the credential instead of failing with
``AUTH_FAILED`` until a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.testing import LoopbackServer
from tests.vault.conftest import NO_KEYRING, run

TOKEN = "tok_reader_s3cr3t"


def _install(home: Path, url: str, *, key: str | None) -> None:
    """``api``, logged in by real processes; ``key=None``: a key file (no env key, no keyring)."""
    extra = ["--insecure-storage"] if key is None else []
    for step in (
        run(
            home,
            "connector",
            "install",
            "http",
            "--name",
            "api",
            "--set",
            f"base_url={url}",
            "--set",
            "auth_type=bearer_token",
            key=key,
        ),
        run(home, "--json", "auth", "login", "api", "--with-token", *extra, input=TOKEN + "\n", key=key),
    ):
        assert step.returncode == 0, step.stdout + step.stderr


def test_a_running_fabric_opens_credentials_after_another_process_rotates_the_key(
    home: Path, api: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(home, api.url, key=None)
    assert (home / "master.key").exists()

    monkeypatch.delenv("CUERVO_FABRIC_KEY")
    for name, value in NO_KEYRING.items():
        monkeypatch.setenv(name, value)
    fabric = Fabric()
    fabric.background_telemetry()
    try:
        before = fabric.vault.key_info().key_id
        for _ in range(3):
            result = fabric.gateway.execute("api", "request", {"path": "/who"})
            assert result.success, result.error
            assert result.data["body"] == {"authorization": f"Bearer {TOKEN}"}

        rotated = run(home, "--json", "vault", "rotate-key", key=None)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        new_id = json.loads(rotated.stdout)["newKeyId"]
        assert new_id != before

        result = fabric.gateway.execute("api", "request", {"path": "/who"})
        assert result.success, result.error
        assert result.data["body"] == {"authorization": f"Bearer {TOKEN}"}
        assert fabric.vault.key_info().key_id == new_id  # it read the new key from the file
    finally:
        fabric.close()


def test_a_credential_sealed_with_a_foreign_key_still_fails_clearly(
    home: Path, api: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the key again does not help a credential sealed with a key nobody here holds."""
    _install(home, api.url, key="test")
    other = run(home, "--json", "exec", "api", "request", "-p", "path=/who", key="b" * 43 + "=")
    assert other.returncode != 0
    error = json.loads(other.stdout)["error"]
    assert error["code"] == "AUTH_FAILED"
    assert "sealed with master key" in error["message"]
    assert error["keyId"] != error["currentKeyId"]
