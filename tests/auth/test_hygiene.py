"""Secret hygiene: after the main flows, no secret appears in the store, the logs or any CLI output.

(The OAuth flows are checked the same way in ``test_oidc_provider.py``, against every token the
provider issued; service accounts and mTLS in their own tests.)
"""

from __future__ import annotations

import base64
from pathlib import Path

from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.auth.conftest import install, secrets_in, store_bytes
from tests.helpers import cli

BEARER = "hyg-bearer-token-1234567"
API_KEY = "hyg-api-key-7654321"
USER, PASSWORD = "hyg-user", "hyg-pass-9876543"


def test_no_secret_appears_anywhere_after_the_main_flows(home: Path) -> None:
    """Login, exec (ok, failing, explained, verbose), status and logout for each static kind.

    The CLI runs in-process here (fast); the subprocess flows are covered by the other tests.
    """
    outputs: list[str] = []
    with LoopbackServer() as server:

        def ok(req: RecordedRequest) -> Reply:
            return Reply(200, {"ok": True})

        def leaky_error(req: RecordedRequest) -> Reply:
            # A provider that quotes the credential back in its error message.
            seen = req.headers.get("authorization") or req.headers.get("x-api-key")
            return Reply(400, {"message": f"malformed credential: {seen}"})

        for path in ("/", "/ok"):
            server.route("GET", path, ok)
        server.route("GET", "/leak", leaky_error)

        flows = [
            ("bearer", "bearer_token", "--with-token", BEARER),
            ("keyed", "api_key", "--api-key", API_KEY),
            ("basic", "basic_auth", "--basic", f"{USER}:{PASSWORD}"),
        ]
        for name, auth_type, flag, secret in flows:
            install(
                "http", "--name", name, "--set", f"base_url={server.url}", "--set", f"auth_type={auth_type}"
            )
            for args, stdin in (
                (["--json", "auth", "login", name, flag], secret + "\n"),
                (["--verbose", "auth", "login", name, flag], secret + "\n"),
                (["--json", "exec", name, "request", "-p", "path=/ok", "--explain"], None),
                (["--verbose", "exec", name, "request", "-p", "path=/ok", "--explain"], None),
                (["--json", "exec", name, "request", "-p", "path=/leak"], None),
                (["--verbose", "exec", name, "request", "-p", "path=/leak"], None),
                (["--json", "auth", "status", name], None),
                (["auth", "status"], None),
                (["--json", "vault", "status"], None),
                (["--json", "health", name], None),
            ):
                result = cli(*args, input=stdin)
                outputs += [result.stdout, result.stderr]
            leak = cli("--json", "exec", name, "request", "-p", "path=/leak")
            assert "[REDACTED]" in leak.stdout
        for name, *_ in flows:
            result = cli("--json", "auth", "logout", name)
            outputs += [result.stdout, result.stderr]

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    secrets = [BEARER, API_KEY, PASSWORD, basic, base64.b64encode(BEARER.encode()).decode()]
    assert secrets_in(outputs, secrets) == []
    assert secrets_in(store_bytes(home), secrets) == []
    assert all(BEARER not in p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
