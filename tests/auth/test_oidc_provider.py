"""The OAuth client against a real, independent OpenID Provider (``oidc-provider`` on loopback).

The real ``cuervo-fabric`` CLI runs as a subprocess; ``BROWSER`` points at a headless browser that
signs in at the provider's own login and consent pages. A resource API accepts a token only when
the provider's introspection endpoint calls it active.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.auth.conftest import BROWSER, HERE, Oidc, ResourceApi, install, run, secrets_in, store_bytes
from tests.conftest import CLI, cli_env
from tests.helpers import instance_row


def _install(oidc: Oidc, resource: ResourceApi) -> None:
    install("http", "--name", "api", *oidc.settings(resource.url))


def _login(
    home: Path, tmp_path: Path, *extra: str, mode: str = "approve"
) -> subprocess.CompletedProcess[str]:
    return run(
        home,
        "--json",
        "auth",
        "login",
        "api",
        *extra,
        BROWSER=BROWSER,
        HEADLESS_MODE=mode,
        HEADLESS_LOG=str(tmp_path / "browser.log"),
    )


def _browser_log(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "browser.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _exec(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(home, "--json", "exec", "api", "request", "-p", "path=/me", *extra)


def test_browser_login_exec_refresh_and_logout(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """PKCE login through BROWSER, exec, refresh after expiry, then logout revokes at the provider."""
    _install(oidc, resource)
    outputs: list[str] = []

    login = _login(home, tmp_path, "--web")
    outputs += [login.stdout, login.stderr]
    assert login.returncode == 0, login.stderr
    assert oidc.meta["authorization_endpoint"] in login.stderr  # the URL went to stderr
    assert "Signed in to cuervo-fabric" in str(_browser_log(tmp_path)[-1]["text"])
    cred = json.loads(login.stdout)["credential"]
    assert cred["kind"] == "oauth2"
    assert cred["refreshable"] is True
    assert set(cred["scopes"]) >= {"openid", "offline_access", "api:read"}
    assert cred["scopesCover"] is True
    assert instance_row(home, "api")["status"] == "active"
    assert oidc.stats()["codeExchanges"] == 1

    first = _exec(home, "--explain", "--verbose")
    outputs += [first.stdout, first.stderr]
    assert first.returncode == 0, first.stdout + first.stderr
    body = json.loads(first.stdout)["data"]["body"]
    assert (body["sub"], body["clientId"]) == ("alice", "cuervo-cli")
    assert oidc.stats()["refreshes"] == 0

    # A short-lived access token: after it expires, the next exec refreshes first.
    oidc.set_ttl(2)
    forced = run(home, "--json", "auth", "refresh", "api")
    outputs += [forced.stdout, forced.stderr]
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["expiresInS"] <= 2
    oidc.set_ttl(3600)
    short_lived = resource.seen[-1] if resource.seen else None
    time.sleep(2.2)
    second = _exec(home, "--explain")
    outputs += [second.stdout, second.stderr]
    assert second.returncode == 0, second.stdout + second.stderr
    assert oidc.stats()["refreshes"] == 2  # auth refresh + the refresh on expiry
    assert {"stage": "credentials", "refreshed": True, "reason": "expiry"} in json.loads(second.stdout)[
        "explain"
    ]
    assert resource.seen[-1] != short_lived

    status = run(home, "--json", "auth", "status", "api")
    outputs += [status.stdout, status.stderr]
    row = json.loads(status.stdout)
    assert row["expired"] is False
    assert row["expiresInS"] > 3000
    assert row["keySource"] == "env"
    assert row["missingScopes"] == []

    last_token = resource.seen[-1]
    assert oidc.introspect(last_token)["active"] is True
    logout = run(home, "--json", "auth", "logout", "api")
    outputs += [logout.stdout, logout.stderr]
    assert logout.returncode == 0, logout.stderr
    result = json.loads(logout.stdout)
    assert result["revoked"] == ["refresh_token", "access_token"]
    assert result["deleted"] == 1
    assert oidc.introspect(last_token)["active"] is False
    assert oidc.stats()["grantsRevoked"] >= 1
    assert instance_row(home, "api")["status"] == "error"

    # Secret hygiene: no token, code or device code the provider issued shows up anywhere.
    issued = oidc.stats()["issued"] + resource.seen
    assert len(issued) >= 6
    assert secrets_in(outputs, issued) == []
    assert secrets_in(store_bytes(home), issued) == []


def test_sixteen_concurrent_execs_refresh_exactly_once(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """16 processes holding one expired token: one refresh at the provider, all succeed, grant intact."""
    _install(oidc, resource)
    assert _login(home, tmp_path, "--web", "--no-verify").returncode == 0
    oidc.set_ttl(1)
    assert run(home, "auth", "refresh", "api").returncode == 0
    oidc.set_ttl(3600)
    time.sleep(1.2)  # the stored access token has now expired
    before = oidc.stats()["refreshes"]

    procs = [
        subprocess.Popen(
            [*CLI, "--json", "exec", "api", "request", "-p", "path=/me"],
            env=cli_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    failures = [r for r in results if r[0] != 0]
    assert failures == []
    assert all(json.loads(out)["success"] for _, out, _ in results)

    stats = oidc.stats()
    assert stats["refreshes"] - before == 1
    assert stats["refreshErrors"] == []
    assert stats["grantsRevoked"] == 0
    # The grant is still valid: a further refresh and call both work.
    assert run(home, "auth", "refresh", "api").returncode == 0
    assert _exec(home).returncode == 0
    assert oidc.stats()["refreshErrors"] == []


def test_a_401_refreshes_once_then_retries(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """A 401 triggers one refresh and one retry; a second 401 is AUTH_FAILED, not a loop."""
    _install(oidc, resource)
    assert _login(home, tmp_path, "--web", "--no-verify").returncode == 0
    resource.reject_first = 1
    ok = _exec(home)
    assert ok.returncode == 0, ok.stdout
    assert oidc.stats()["refreshes"] == 1
    assert resource.seen[-1] != resource.seen[-2]

    resource.reject_first = 5
    failed = _exec(home)
    assert failed.returncode == 7
    assert json.loads(failed.stdout)["error"]["code"] == "AUTH_FAILED"
    assert oidc.stats()["refreshes"] == 2


def test_a_refused_refresh_marks_the_instance_error(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """When the provider refuses the refresh token, exec fails clearly and the instance is in error."""
    _install(oidc, resource)
    assert _login(home, tmp_path, "--web", "--no-verify").returncode == 0
    # Someone revokes the grant at the provider (as an admin would): spend and replay the RT.
    from cuervo_fabric.bootstrap import Fabric

    fabric = Fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, "api")
    refresh_token = fabric.credentials.load(inst)["refresh_token"]
    fabric.close()
    import httpx

    httpx.post(
        oidc.meta["revocation_endpoint"],
        data={"token": refresh_token, "token_type_hint": "refresh_token", "client_id": "cuervo-cli"},
        timeout=10,
    ).raise_for_status()

    result = run(home, "--json", "auth", "refresh", "api")
    assert result.returncode == 7
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "AUTH_FAILED"
    assert "invalid_grant" in error["message"]
    row = instance_row(home, "api")
    assert row["status"] == "error"
    assert row["status_reason"].startswith("credential refresh failed")
    status = json.loads(run(home, "--json", "auth", "status", "api").stdout)
    assert "invalid_grant" in status["statusReason"]


def test_forged_state_is_refused(home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi) -> None:
    """A callback with another state stores nothing and fails AUTH_FAILED."""
    _install(oidc, resource)
    result = _login(home, tmp_path, "--web", mode="forge-state")
    assert result.returncode == 7
    assert "state" in json.loads(result.stdout)["error"]["message"]
    assert _browser_log(tmp_path)[-1]["status"] == 400
    assert instance_row(home, "api")["status"] == "error"
    assert json.loads(run(home, "--json", "auth", "status", "api").stdout)["hasCredential"] is False


def test_foreign_issuer_is_refused(home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi) -> None:
    """RFC 9207: an authorization response from another issuer is a mix-up, refused."""
    _install(oidc, resource)
    result = _login(home, tmp_path, "--web", mode="forge-iss")
    assert result.returncode == 7
    assert "issuer" in json.loads(result.stdout)["error"]["message"]
    assert oidc.stats()["codeExchanges"] == 0


def test_denied_consent_fails_cleanly(home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi) -> None:
    """Cancelling at the provider's consent page is AUTH_FAILED with the provider's error."""
    _install(oidc, resource)
    result = _login(home, tmp_path, "--web", mode="deny")
    assert result.returncode == 7
    assert "access_denied" in json.loads(result.stdout)["error"]["message"]
    assert "sign-in failed" in str(_browser_log(tmp_path)[-1]["text"])


def test_no_browser_prints_a_url_that_already_listens(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """--no-browser prints the URL on stderr (the loopback port is bound first); opening it completes."""
    _install(oidc, resource)
    proc = subprocess.Popen(
        [*CLI, "--json", "auth", "login", "api", "--no-browser"],
        env=cli_env(home, BROWSER=BROWSER, HEADLESS_LOG=str(tmp_path / "never.log")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = ""
    for line in proc.stderr:
        if line.strip().startswith(oidc.meta["authorization_endpoint"]):
            url = line.strip()
            break
    assert "code_challenge_method=S256" in url
    browser = subprocess.run(
        [sys.executable, str(HERE / "headless_browser.py"), url],
        env=cli_env(home, HEADLESS_LOG=str(tmp_path / "browser.log")),
        timeout=60,
        check=False,
    )
    assert browser.returncode == 0
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert json.loads(out)["status"] == "active"
    assert not (tmp_path / "never.log").exists()  # BROWSER was not run


def test_device_flow_is_offered_without_a_browser(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """Headless (no BROWSER, no display): the device grant; approving the code elsewhere logs in."""
    _install(oidc, resource)
    env = cli_env(home)
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [*CLI, "--json", "auth", "login", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    notices: list[str] = []
    complete = ""
    for line in proc.stderr:
        notices.append(line)
        if line.strip().startswith("(or open "):
            complete = line.strip()[len("(or open ") : -len(" directly)")]
            break
    assert any("device flow" in n for n in notices)
    assert complete.startswith(oidc.meta["device_authorization_endpoint"].replace("/auth", ""))
    browser = subprocess.run(
        [sys.executable, str(HERE / "headless_browser.py"), complete],
        env=cli_env(home, HEADLESS_LOG=str(tmp_path / "browser.log")),
        timeout=60,
        check=False,
    )
    assert browser.returncode == 0
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert json.loads(out)["credential"]["flow"] == "device"
    assert oidc.stats()["deviceExchanges"] == 1
    assert _exec(home).returncode == 0


def test_uninstall_revokes_at_the_provider(
    home: Path, tmp_path: Path, oidc: Oidc, resource: ResourceApi
) -> None:
    """connector uninstall revokes the grant at the provider before deleting the credential."""
    _install(oidc, resource)
    assert _login(home, tmp_path, "--web", "--no-verify").returncode == 0
    assert _exec(home).returncode == 0
    token = resource.seen[-1]
    result = run(home, "--json", "connector", "uninstall", "api", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert oidc.introspect(token)["active"] is False
    assert oidc.stats()["revocations"] >= 1
