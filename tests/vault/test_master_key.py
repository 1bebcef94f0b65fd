"""The master key: the file fallback, strict mode, and wrong, missing or corrupt keys.

Wrong or missing keys fail with clear errors and change nothing: the credentials and instances
are compared row for row before and after (failed calls are still audited, as they should be).
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

from cuervo_fabric.testing import LoopbackServer
from tests.helpers import cli
from tests.vault.conftest import error_of, install_token, run, vault_state

OTHER_KEY = base64.b64encode(b"o" * 32).decode()


def _install(home: Path, url: str, name: str = "api", key: str | None = None) -> None:
    assert run(home, "connector", "install", "http", "--name", name, "--set", f"base_url={url}",
               "--set", "auth_type=bearer_token", key=key).returncode == 0  # fmt: skip


def test_without_any_keyring_the_key_goes_to_a_0600_file_with_a_warning(
    home: Path, api: LoopbackServer
) -> None:
    """No CUERVO_FABRIC_KEY and no keyring backend: a 0600 key file, a loud warning, still secure data."""
    _install(home, api.url, key=None)
    login = run(home, "--json", "auth", "login", "api", "--with-token", input="tok-file-1\n", key=None)
    assert login.returncode == 0, login.stdout + login.stderr
    assert "WARNING: no OS keyring is available" in login.stderr
    key_file = home / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    status = run(home, "--json", "vault", "status", key=None)
    info = json.loads(status.stdout)
    assert (info["source"], info["secure"], info["keyringBackend"]) == ("file", False, "none")
    assert "WARNING" in status.stderr
    exec_ = run(home, "--json", "exec", "api", "request", "-p", "path=/who", key=None)
    assert json.loads(exec_.stdout)["data"]["body"]["authorization"] == "Bearer tok-file-1"


def test_strict_mode_refuses_the_key_file_and_changes_nothing(home: Path, api: LoopbackServer) -> None:
    """vault.strict: no keyring means AUTH_FAILED before the instance or the store changes."""
    _install(home, api.url, key=None)
    assert run(home, "config", "set", "vault.strict", "true", key=None).returncode == 0
    before = vault_state(home)
    login = run(home, "--json", "auth", "login", "api", "--with-token", input="tok\n", key=None)
    assert login.returncode == 7
    assert "strict" in error_of(login)["message"]
    assert not (home / "master.key").exists()
    assert vault_state(home) == before


def test_a_wrong_key_fails_clearly_and_changes_nothing(home: Path, api: LoopbackServer) -> None:
    """Credentials sealed with key A, CUERVO_FABRIC_KEY=B: AUTH_FAILED naming both key ids."""
    install_token("api", api.url, "tok-wrong-1")
    before = vault_state(home)
    result = run(home, "--json", "exec", "api", "request", "-p", "path=/", key=OTHER_KEY)
    assert result.returncode == 7
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "AUTH_FAILED"
    assert "sealed with master key" in error["message"]
    assert error["keyId"] != error["currentKeyId"]
    status = json.loads(run(home, "--json", "vault", "status", key=OTHER_KEY).stdout)
    assert status["unreadable"] == 1
    auth_status = json.loads(run(home, "--json", "auth", "status", "api", key=OTHER_KEY).stdout)
    assert auth_status["keyAvailable"] is False
    rotate = run(
        home, "--json", "vault", "rotate-key", "--new-key-stdin", input=OTHER_KEY + "\n", key=OTHER_KEY
    )
    assert rotate.returncode == 7
    assert "Nothing was changed" in error_of(rotate)["message"]
    assert vault_state(home) == before
    assert json.loads(run(home, "--json", "exec", "api", "request", "-p", "path=/").stdout)["success"]


def test_a_missing_key_fails_clearly_creates_none_and_changes_nothing(
    home: Path, api: LoopbackServer
) -> None:
    """Credentials exist but no key is found: exec and a new login both refuse; no key is made up."""
    install_token("api", api.url, "tok-missing-1")
    _install(home, api.url, name="second")
    before = vault_state(home)
    result = run(home, "--json", "exec", "api", "request", "-p", "path=/", key=None)
    assert result.returncode == 7
    assert "no master key" in error_of(result)["message"]
    login = run(home, "--json", "auth", "login", "second", "--with-token", input="tok-2\n", key=None)
    assert login.returncode == 7
    assert "master key is missing" in error_of(login)["message"]
    assert run(home, "--json", "vault", "status", key=None).returncode == 0
    assert not (home / "master.key").exists()
    assert vault_state(home) == before


def test_a_corrupt_key_file_is_internal_and_says_where(home: Path, api: LoopbackServer) -> None:
    """A damaged key file is INTERNAL (our storage is broken), named, with no traceback."""
    _install(home, api.url, key=None)
    assert run(home, "auth", "login", "api", "--with-token", input="tok\n", key=None).returncode == 0
    (home / "master.key").write_text("not a key\n")
    result = run(home, "--json", "exec", "api", "request", "-p", "path=/", key=None)
    assert result.returncode == 1
    error = error_of(result)
    assert error["code"] == "INTERNAL"
    assert "master.key is corrupt" in error["message"]
    assert "Traceback" not in result.stderr


def test_a_malformed_env_key_is_invalid_input(home: Path) -> None:
    """CUERVO_FABRIC_KEY that is not 32 bytes of base64 or hex: INVALID_INPUT with a fix."""
    result = run(home, "--json", "vault", "status", key="too-short")
    assert result.returncode == 2
    assert "vault generate-key" in error_of(result)["message"]


def test_a_tampered_credential_does_not_decrypt(home: Path, api: LoopbackServer) -> None:
    """Flipping one ciphertext byte is caught by AES-GCM: AUTH_FAILED, not garbage."""
    import sqlite3

    install_token("api", api.url, "tok-tamper")
    conn = sqlite3.connect(home / "fabric.db")
    data = bytearray(conn.execute("SELECT encrypted_data FROM connector_credentials").fetchone()[0])
    data[-1] ^= 1
    conn.execute("UPDATE connector_credentials SET encrypted_data = ?", (bytes(data),))
    conn.commit()
    conn.close()
    result = cli("--json", "exec", "api", "request", "-p", "path=/")
    assert result.exit_code == 7
    assert "cannot decrypt" in result.error["message"]


def test_vault_status_never_creates_a_key(home: Path) -> None:
    """On a fresh home without a key, vault status reports none and writes nothing."""
    result = run(home, "--json", "vault", "status", key=None)
    assert json.loads(result.stdout)["source"] == "none"
    assert not (home / "master.key").exists()
    assert not os.path.exists(home / "master.key.next")
