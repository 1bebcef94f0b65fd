"""A real Secret Service keyring: gnome-keyring in its own D-Bus session (``dbus-run-session``).

A small driver runs inside the session: it unlocks a fresh login keyring non-interactively, then
runs CLI commands (without ``CUERVO_FABRIC_KEY``) and reports what each printed; ``secret-tool``
reads the keyring independently of our code.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cuervo_fabric.testing import LoopbackServer
from cuervo_fabric.vault._crypto import key_id_for
from tests._require import require
from tests.conftest import CLI, cli_env

DRIVER = r"""
import json, os, subprocess, sys
unlock = subprocess.run(
    ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
    input=b"login-password", capture_output=True, timeout=30,
)
for line in unlock.stdout.decode().splitlines():
    name, sep, value = line.partition("=")
    if sep:
        os.environ[name] = value
out = []
for step in json.load(open(sys.argv[1])):
    env = {**os.environ, **step.get("env", {})}
    for name in step.get("unset", []):
        env.pop(name, None)
    r = subprocess.run(step["argv"], input=step.get("input"), capture_output=True, text=True,
                       env=env, timeout=60)
    out.append({"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr})
json.dump(out, open(sys.argv[2], "w"))
"""


def _in_keyring_session(tmp_path: Path, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    require(
        all(shutil.which(t) for t in ("gnome-keyring-daemon", "dbus-run-session", "secret-tool")),
        "gnome-keyring, dbus and secret-tool (run .ci/setup.d/20-gnome-keyring.sh)",
    )
    user_home = tmp_path / "user"
    runtime = tmp_path / "run"
    for d in (user_home, runtime):
        d.mkdir(mode=0o700)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    env = {
        k: v
        for k, v in cli_env(tmp_path / "home").items()
        if k not in ("CUERVO_FABRIC_KEY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update(HOME=str(user_home), XDG_RUNTIME_DIR=str(runtime), XDG_DATA_HOME=str(user_home / "data"))
    done = subprocess.run(
        ["dbus-run-session", "--", sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "steps.json"),
         str(tmp_path / "out.json")],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(json.loads((tmp_path / "out.json").read_text()))


def test_the_master_key_lives_in_a_real_secret_service_keyring(tmp_path: Path) -> None:
    """No CUERVO_FABRIC_KEY: the key is created in gnome-keyring, used, rotated there; no key file."""
    home = tmp_path / "home"
    user = f"master-key@{home}"
    lookup = ["secret-tool", "lookup", "service", "cuervo-fabric", "username", user]
    with LoopbackServer() as api:
        from cuervo_fabric.testing import RecordedRequest, Reply

        def echo(req: RecordedRequest) -> Reply:
            return Reply(200, {"authorization": req.headers.get("authorization")})

        api.route("GET", "/", echo)
        who = [*CLI, "--json", "exec", "api", "request", "-p", "path=/"]
        steps: list[dict[str, Any]] = [
            {"argv": [*CLI, "--json", "vault", "status"]},
            {
                "argv": [
                    *CLI,
                    "connector",
                    "install",
                    "http",
                    "--name",
                    "api",
                    "--set",
                    f"base_url={api.url}",
                    "--set",
                    "auth_type=bearer_token",
                ]
            },
            {"argv": [*CLI, "--json", "auth", "login", "api", "--with-token"], "input": "keyring-token-1\n"},
            {"argv": [*CLI, "--json", "vault", "status"]},
            {"argv": lookup},
            {"argv": who},
            {"argv": [*CLI, "--json", "vault", "rotate-key"]},
            {"argv": lookup},
            {"argv": [*lookup[:-1], user + ".next"]},
            {"argv": who},
            {"argv": [*CLI, "--json", "auth", "status", "api"]},
        ]
        out = _in_keyring_session(tmp_path, steps)
    fresh, _, login, status, key1, exec1, rotate, key2, pending, exec2, auth_status = out
    assert json.loads(fresh["stdout"])["source"] == "none"
    assert "SecretService" in json.loads(fresh["stdout"])["keyringBackend"]
    assert login["rc"] == 0, login["stdout"] + login["stderr"]
    assert "WARNING" not in login["stderr"]
    info = json.loads(status["stdout"])
    assert (info["source"], info["secure"]) == ("keyring", True)
    assert "SecretService" in info["detail"]
    assert info["keyId"] == key_id_for(base64.b64decode(key1["stdout"].strip()))
    assert not (home / "master.key").exists()
    assert json.loads(exec1["stdout"])["data"]["body"]["authorization"] == "Bearer keyring-token-1"

    assert rotate["rc"] == 0, rotate["stdout"] + rotate["stderr"]
    rotated = json.loads(rotate["stdout"])
    assert (rotated["source"], rotated["rewrapped"]) == ("keyring", 1)
    assert key2["stdout"].strip() != key1["stdout"].strip()
    assert rotated["newKeyId"] == key_id_for(base64.b64decode(key2["stdout"].strip()))
    assert pending["rc"] != 0  # the pending entry is gone after promotion
    assert json.loads(exec2["stdout"])["data"]["body"]["authorization"] == "Bearer keyring-token-1"
    assert json.loads(auth_status["stdout"])["keySource"] == "keyring"

    # The old key, now only in a variable, opens nothing.
    old = subprocess.run(
        [*CLI, "--json", "exec", "api", "request", "-p", "path=/"],
        env=cli_env(home, CUERVO_FABRIC_KEY=key1["stdout"].strip()),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert old.returncode == 7


def test_insecure_storage_forces_the_file_even_with_a_keyring(tmp_path: Path) -> None:
    """--insecure-storage writes the 0600 key file (with the warning) although a keyring answers."""
    home = tmp_path / "home"
    steps: list[dict[str, Any]] = [
        {
            "argv": [
                *CLI,
                "connector",
                "install",
                "http",
                "--name",
                "api",
                "--set",
                "base_url=http://127.0.0.1:9",
                "--set",
                "auth_type=bearer_token",
            ]
        },
        {
            "argv": [
                *CLI,
                "--json",
                "auth",
                "login",
                "api",
                "--with-token",
                "--no-verify",
                "--insecure-storage",
            ],
            "input": "tok\n",
        },
        {"argv": [*CLI, "--json", "vault", "status"]},
    ]
    _, login, status = _in_keyring_session(tmp_path, steps)
    assert login["rc"] == 0, login["stdout"] + login["stderr"]
    assert "WARNING: --insecure-storage was given" in login["stderr"]
    assert (home / "master.key").exists()
    info = json.loads(status["stdout"])
    assert (info["source"], info["secure"]) == ("file", False)
    assert "SecretService" in info["keyringBackend"]
