"""``cuervo-fabric auth ...``: log instances in and out, show and refresh their credentials.

Secrets come from stdin or a hidden prompt, never from argv; URLs, user codes and progress go to
stderr, so ``--json`` keeps stdout to one document.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import AuthFailedError, FabricError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from cuervo_fabric.bootstrap import Fabric
    from cuervo_fabric.domain.models import ConnectorInstance
    from cuervo_fabric.ports import MasterKeyInfo
    from cuervo_fabric.services.credentials import Renewal

__all__ = ["app"]

app = new_app(
    "Authenticate connector instances: OAuth2 (browser or device code), tokens, API keys, basic "
    "auth, service accounts, GitHub Apps and client certificates.\n\n"
    "Example: [bold]gh auth token | cuervo-fabric auth login work --with-token[/bold]"
)

InstanceArg = Annotated[str, typer.Argument(help="Instance id or name.")]

#: auth type -> the flags that apply to it
_FLAGS_FOR = {
    "none": set(),
    "bearer_token": {"--with-token"},
    "api_key": {"--api-key"},
    "basic_auth": {"--basic"},
    "oauth2": {"--web", "--device", "--with-token"},
    "service_account": {"--service-account"},
    "mtls": {"--cert"},
}

#: option -> the auth types it applies to
_MODIFIERS = {
    "--no-browser": {"oauth2"},
    "--client-secret-stdin": {"oauth2"},
    "--scopes": {"oauth2", "service_account"},
    "--username": {"basic_auth"},
}


def _read_secret(label: str) -> str:
    if not sys.stdin.isatty():
        value = sys.stdin.readline().strip()
        if not value:
            raise InvalidInputError(f"expected the {label} on stdin, got nothing", details={"field": label})
        return value
    if not state.interactive:
        raise InvalidInputError(f"pipe the {label} on stdin (prompting is off)", details={"field": label})
    value = str(typer.prompt(label.capitalize(), hide_input=True)).strip()
    if not value:
        raise InvalidInputError(f"empty {label}", details={"field": label})
    return value


def _read_file(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", details={"field": field}) from exc


def _static_secret(auth_type: str, username: str | None) -> dict[str, Any]:
    if auth_type == "bearer_token":
        return {"token": _read_secret("token")}
    if auth_type == "api_key":
        return {"key": _read_secret("API key")}
    username = username or None
    if username:
        return {"username": username, "password": _read_secret("password")}
    raw = _read_secret("username:password")
    user, sep, password = raw.partition(":")
    if not sep or not user:
        raise InvalidInputError(
            "basic auth expects USERNAME:PASSWORD on stdin (or --username and the password)",
            details={"field": "basic"},
        )
    return {"username": user, "password": password}


def _scopes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    from cuervo_fabric.auth.oauth2 import parse_scopes

    return list(parse_scopes(values))


def _check_flags(inst: ConnectorInstance, chosen: list[str]) -> None:
    allowed = _FLAGS_FOR.get(inst.auth_type, set())
    if len({c for c in chosen if c in ("--web", "--device")}) > 1:
        raise InvalidInputError("choose --web or --device, not both", details={"field": "auth"})
    kinds = [c for c in chosen if c not in ("--web", "--device")]
    if len(kinds) > 1:
        raise InvalidInputError(f"choose one of {', '.join(kinds)}", details={"field": "auth"})
    for flag in chosen:
        if flag not in allowed:
            hint = f"; use {' or '.join(sorted(allowed))}" if allowed else "; it needs no credential"
            raise InvalidInputError(
                f"{flag} does not apply: instance {inst.name!r} uses {inst.auth_type}{hint}",
                details={"field": "auth"},
            )


@app.command("login")
def login(
    instance: InstanceArg,
    web: Annotated[bool, typer.Option("--web", help="OAuth2: sign in in a browser (PKCE).")] = False,
    device: Annotated[
        bool, typer.Option("--device", help="OAuth2: approve with a code on another device.")
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="OAuth2: print the sign-in URL, do not open it.")
    ] = False,
    scopes: Annotated[
        list[str] | None,
        typer.Option("--scopes", help="Scopes to ask for (repeatable, or comma-separated)."),
    ] = None,
    with_token: Annotated[bool, typer.Option("--with-token", help="Read a bearer token from stdin.")] = False,
    api_key: Annotated[bool, typer.Option("--api-key", help="Read an API key from stdin.")] = False,
    basic: Annotated[bool, typer.Option("--basic", help="Read USERNAME:PASSWORD from stdin.")] = False,
    username: Annotated[
        str | None, typer.Option("--username", help="Basic auth user (password from stdin).")
    ] = None,
    service_account: Annotated[
        Path | None,
        typer.Option(
            "--service-account",
            help="A service-account key: Google-style JSON, or a GitHub App private key (PEM).",
            metavar="FILE",
        ),
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="mTLS: client certificate (PEM).", metavar="FILE")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="mTLS: its private key (PEM; a passphrase is read from stdin).", metavar="FILE"
        ),
    ] = None,
    client_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--client-secret-stdin", help="OAuth2: read a client secret from stdin (confidential apps)."
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="OAuth2: seconds to wait for the sign-in.")
    ] = 300.0,
    verify: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="Check the credential with the connector's health check."),
    ] = True,
    insecure_storage: Annotated[
        bool,
        typer.Option(
            "--insecure-storage",
            help="Keep the master key in a plain 0600 file even if a keyring exists.",
        ),
    ] = False,
) -> None:
    """Obtain a credential for an instance, store it encrypted, and activate the instance.

    OAuth2 signs in in a browser by default (the URL goes to stderr; BROWSER is honoured).
    Where no browser can open, the device flow is offered.

    Example: echo "$TOKEN" | cuervo-fabric auth login api --with-token
    """
    fabric = state.fabric(insecure_storage=insecure_storage)
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    chosen = [
        flag
        for flag, on in (
            ("--web", web),
            ("--device", device),
            ("--with-token", with_token),
            ("--api-key", api_key),
            ("--basic", basic),
            ("--service-account", service_account is not None),
            ("--cert", cert is not None or key is not None),
        )
        if on
    ]
    _check_flags(inst, chosen)
    modifiers = {
        "--no-browser": no_browser,
        "--client-secret-stdin": client_secret_stdin,
        "--scopes": bool(scopes),
        "--username": username is not None,
    }
    for flag, on in modifiers.items():
        if on and inst.auth_type not in _MODIFIERS[flag]:
            raise InvalidInputError(
                f"{flag} does not apply: instance {inst.name!r} uses {inst.auth_type}",
                details={"field": flag.lstrip("-")},
            )
    from cuervo_fabric.domain import lifecycle
    from cuervo_fabric.domain.models import InstanceStatus

    if inst.status is not InstanceStatus.AUTHENTICATING:
        lifecycle.check_transition(inst.status, InstanceStatus.AUTHENTICATING, instance=inst.name)
    # Everything that can be refused is checked before the instance changes state.
    obtain = _prepare(
        fabric,
        inst,
        chosen,
        scopes=_scopes(scopes),
        username=username,
        service_account=service_account,
        cert=cert,
        key=key,
        client_secret_stdin=client_secret_stdin,
        no_browser=no_browser,
        timeout=timeout,
    )
    if inst.auth_type != "none":
        fabric.vault.key_info()  # a missing or refused master key fails here, before any change
    if inst.status is InstanceStatus.AUTHENTICATING:
        # An earlier login died half-way (Ctrl-C, a killed process): start over.
        inst = fabric.lifecycle.transition(
            inst, InstanceStatus.ERROR, reason="an earlier login did not finish"
        )
    inst = fabric.lifecycle.begin_auth(inst)
    try:
        renewal = obtain()
        if renewal is not None:
            fabric.credentials.save(
                inst, renewal.secret, expires_at=renewal.expires_at, metadata=renewal.metadata
            )
        if verify and inst.auth_type != "none":
            _verify(fabric, inst)
    except FabricError as exc:
        fabric.lifecycle.finish_auth(inst, ok=False, error=exc.message)
        raise
    except BaseException:
        fabric.lifecycle.finish_auth(inst, ok=False, error="the login was interrupted")
        raise
    inst = fabric.lifecycle.finish_auth(inst, ok=True)
    if not state.json:
        _render.info(f"Logged in: {inst.name} is {inst.status.value} ({inst.auth_type}).")
    row = _status_row(fabric, inst, _key_info(fabric))
    _render.emit({**inst.to_dict(), "credential": row}, lambda: None)


def _prepare(
    fabric: Fabric,
    inst: ConnectorInstance,
    chosen: list[str],
    *,
    scopes: list[str] | None,
    username: str | None,
    service_account: Path | None,
    cert: Path | None,
    key: Path | None,
    client_secret_stdin: bool,
    no_browser: bool,
    timeout: float,
) -> Any:
    """Read and check the inputs; return the function that obtains the credential."""
    flows = fabric.login_flows
    kind = inst.auth_type
    if kind == "none":
        return lambda: None
    if kind in ("bearer_token", "api_key", "basic_auth"):
        secret = _static_secret(kind, username)
        return lambda: _renewal(kind, secret)
    if kind == "oauth2":
        if "--with-token" in chosen:
            token = _read_secret("access token")
            return lambda: flows.oauth_token(token, scopes or [])
        client_secret = _read_secret("client secret") if client_secret_stdin else None
        use_device = "--device" in chosen
        if not use_device and "--web" not in chosen and not no_browser and not flows.browser_available():
            use_device = _offer_device(inst)
        client = flows.oauth_client(inst, device=use_device, scopes=scopes, client_secret=client_secret)
        if use_device:
            return lambda: flows.oauth_device(inst, client, timeout_s=max(timeout, 600.0))
        return lambda: flows.oauth_web(inst, client, browser=not no_browser, timeout_s=timeout)
    if kind == "service_account":
        if service_account is None:
            raise InvalidInputError(
                f"instance {inst.name!r} uses a service account: pass --service-account FILE",
                details={"field": "service-account"},
            )
        parsed = flows.parse_service_account(
            inst, _read_file(service_account, "service-account"), scopes=scopes
        )
        return lambda: flows.service_account(parsed)
    if kind == "mtls":
        if cert is None or key is None:
            raise InvalidInputError(
                f"instance {inst.name!r} uses mTLS: pass --cert FILE and --key FILE",
                details={"field": "cert" if cert is None else "key"},
            )
        cert_pem, key_pem = _read_file(cert, "cert"), _read_file(key, "key")
        password = _read_secret("key passphrase").encode() if b"ENCRYPTED" in key_pem else None
        renewal = flows.client_certificate(cert_pem, key_pem, password=password)
        if renewal.expires_at is not None and renewal.expires_at <= time.time():
            raise InvalidInputError("the client certificate has expired", details={"field": "cert"})
        return lambda: renewal
    raise InvalidInputError(
        f"auth type {kind!r} is not supported by `auth login`", details={"field": "auth_type"}
    )


def _renewal(kind: str, secret: dict[str, Any]) -> Renewal:
    from cuervo_fabric.services.credentials import Renewal

    return Renewal(secret=secret, expires_at=None, metadata={"kind": kind, "refreshable": False})


def _offer_device(inst: ConnectorInstance) -> bool:
    """No browser can open here: the device flow when the provider has one (asked if interactive)."""
    if not inst.settings.get("device_authorization_url"):
        _render.warn("No browser can open here: open the URL below on any machine that can reach this one.")
        return False
    if state.interactive:
        return bool(
            typer.confirm("No browser can open here. Sign in with a code on another device?", default=True)
        )
    _render.warn("No browser can open here: using the device flow (pass --web or --no-browser to get a URL).")
    return True


def _verify(fabric: Fabric, inst: ConnectorInstance) -> None:
    call = fabric.gateway.new_call(inst.id, "health.check")
    call.health = True
    result = fabric.gateway.run(call)
    err = result.error or {}
    if not result.success and err.get("code") in ("AUTH_FAILED", "PERMISSION_DENIED", "AUTH_REQUIRED"):
        raise AuthFailedError(f"the provider rejected the credential: {err.get('message')}")
    details = (result.data or {}).get("details", {}) if result.success else {}
    if result.success and details.get("authValid") is False:
        raise AuthFailedError(
            f"the provider rejected the credential: {details.get('lastError') or ''}".rstrip(": ")
        )
    if not result.success:
        _render.warn(f"warning: could not verify the credential ({err.get('code')}): {err.get('message')}")


# ---------------------------------------------------------------------- status
def _required_scopes(fabric: Fabric, inst: ConnectorInstance) -> list[str] | None:
    try:
        spec = fabric.registry.get(inst.connector_id)
    except NotFoundError:
        return None
    granted = set(inst.granted_capabilities)
    needed: set[str] = set()
    for cap in spec.capabilities:
        if (granted and cap.id not in granted) or cap.id in inst.denied_capabilities:
            continue
        needed.update(cap.required_scopes)
    return sorted(needed)


def _key_info(fabric: Fabric) -> MasterKeyInfo | None:
    """The vault key's facts without creating a key (``None``: no key, or it cannot be read)."""
    try:
        return fabric.vault.peek_key_info()
    except FabricError:
        return None


def _status_row(fabric: Fabric, inst: ConnectorInstance, info: MasterKeyInfo | None) -> dict[str, Any]:
    from cuervo_fabric.auth.renew import expiry_facts

    rec = fabric.credentials.record(inst)
    meta: dict[str, Any] = dict(rec.metadata or {}) if rec else {}
    granted = meta.get("scopes") if isinstance(meta.get("scopes"), list) else None
    required = _required_scopes(fabric, inst)
    missing = sorted(set(required) - set(granted)) if granted is not None and required is not None else None
    row: dict[str, Any] = {
        "instance": inst.name,
        "instanceId": inst.id,
        "status": inst.status.value,
        "statusReason": inst.status_reason,
        "authType": inst.auth_type,
        "hasCredential": rec is not None or inst.auth_type == "none",
        "credentialType": rec.credential_type if rec else None,
        "kind": meta.get("kind"),
        "flow": meta.get("flow"),
        **expiry_facts(rec.expires_at if rec else None, time.time()),
        "refreshable": bool(meta.get("refreshable")),
        "refreshedAt": _iso(rec.refreshed_at) if rec else None,
        "scopes": granted,
        "requiredScopes": required,
        "missingScopes": missing,
        "scopesCover": (not missing) if missing is not None else None,
        "keyId": rec.encryption_key_id if rec else None,
        "keySource": info.source if info else "none",
        "keyAvailable": (info is not None and rec.encryption_key_id == info.key_id) if rec else None,
    }
    for extra in ("certificate", "appId", "installationId", "clientEmail"):
        if extra in meta:
            row[extra] = meta[extra]
    return row


def _iso(value: float | None) -> str | None:
    from cuervo_fabric.domain.timeutil import iso

    return iso(value) if value is not None else None


def _expiry_text(row: dict[str, Any]) -> str:
    if row["expiresAt"] is None:
        return "-"
    left = row["expiresInS"]
    if row["expired"]:
        return "expired" + (" (refreshes on use)" if row["refreshable"] else "")
    if left < 120:
        return f"in {left}s"
    if left < 7200:
        return f"in {left // 60}m"
    return f"in {left // 3600}h"


def _scopes_text(row: dict[str, Any]) -> str:
    if row["scopes"] is None:
        return "-"
    text = " ".join(row["scopes"]) or "(none)"
    if row["missingScopes"]:
        text += f"  [missing: {' '.join(row['missingScopes'])}]"
    return text


@app.command("status")
def status(
    instance: Annotated[str | None, typer.Argument(help="Instance (default: all).")] = None,
) -> None:
    """Show each instance's credential: kind, expiry, scopes, and the vault key's source.

    Scopes are compared with what the instance's capabilities need. Never shows a secret.

    Example: cuervo-fabric auth status work --json
    """
    fabric = state.fabric()
    targets = (
        [fabric.lifecycle.resolve(fabric.tenant, instance)]
        if instance
        else fabric.lifecycle.instances(fabric.tenant)
    )
    info = _key_info(fabric)
    rows = [_status_row(fabric, inst, info) for inst in targets]
    _render.emit(
        rows if instance is None else rows[0],
        lambda: _render.table(
            "Credentials",
            ["instance", "status", "auth", "credential", "expires", "scopes", "key"],
            [
                (
                    r["instance"],
                    r["status"],
                    r["authType"],
                    (r["kind"] or r["credentialType"] or "yes") if r["hasCredential"] else "no",
                    _expiry_text(r),
                    _scopes_text(r),
                    f"{r['keySource']}" + ("" if r["keyAvailable"] in (None, True) else " (wrong key!)"),
                )
                for r in rows
            ],
        ),
    )


@app.command("refresh")
def refresh(instance: InstanceArg) -> None:
    """Refresh an instance's credential now (under the same lock exec uses).

    Example: cuervo-fabric auth refresh work
    """
    from cuervo_fabric.auth.renew import can_refresh, kind_of, renew

    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    secret = fabric.credentials.load(inst)
    if not can_refresh(inst, secret):
        raise InvalidInputError(
            f"the {kind_of(inst, secret)} credential of {inst.name!r} cannot be refreshed "
            "(no refresh token, or a credential that does not expire): run auth login instead",
            details={"instance": inst.name},
        )
    del secret
    fabric.credentials.refresh(inst, renew, force=True)
    inst = fabric.lifecycle.resolve(fabric.tenant, inst.id)
    row = _status_row(fabric, inst, _key_info(fabric))
    _render.emit(row, lambda: _render.info(f"Refreshed {inst.name}: expires {_expiry_text(row)}."))


@app.command("logout")
def logout(instance: InstanceArg) -> None:
    """Revoke an instance's credential at the provider (when it can), then delete it.

    The instance goes to error until the next login.

    Example: cuervo-fabric auth logout work
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    from cuervo_fabric.domain import lifecycle
    from cuervo_fabric.domain.models import InstanceStatus

    outcome = fabric.revoke_credentials(inst)
    if outcome["revocationError"]:
        _render.warn(
            f"warning: could not revoke at the provider ({outcome['revocationError']}); "
            "the credential was deleted here: revoke it at the provider by hand"
        )
    if inst.auth_type != "none" and lifecycle.can_transition(inst.status, InstanceStatus.ERROR):
        inst = fabric.lifecycle.transition(inst, InstanceStatus.ERROR, reason="logged out: run auth login")
    revoked = outcome["revoked"]
    _render.emit(
        {"instance": inst.name, "status": inst.status.value, **outcome},
        lambda: _render.info(
            f"Logged out {inst.name}: {outcome['deleted']} credential(s) deleted"
            + (f", revoked at the provider ({', '.join(revoked)})." if revoked else ".")
        ),
    )
