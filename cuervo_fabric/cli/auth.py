"""``cuervo-fabric auth ...``: log instances in and out. Secrets come from stdin or a hidden prompt."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import AuthFailedError, FabricError, InvalidInputError

__all__ = ["app"]

app = new_app(
    "Authenticate connector instances (tokens, API keys, basic auth, none).\n\n"
    "Example: [bold]gh auth token | cuervo-fabric auth login work --with-token[/bold]"
)

InstanceArg = Annotated[str, typer.Argument(help="Instance id or name.")]

_FLAG_FOR = {"bearer_token": "--with-token", "api_key": "--api-key", "basic_auth": "--basic"}


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


def _secret_for(auth_type: str, username: str | None) -> dict[str, Any]:
    if auth_type == "bearer_token":
        return {"token": _read_secret("token")}
    if auth_type == "api_key":
        return {"key": _read_secret("API key")}
    if auth_type == "basic_auth":
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
    raise InvalidInputError(
        f"auth type {auth_type!r} is not supported by `auth login` in this version",
        details={"field": "auth_type"},
    )


@app.command("login")
def login(
    instance: InstanceArg,
    with_token: Annotated[bool, typer.Option("--with-token", help="Read a bearer token from stdin.")] = False,
    api_key: Annotated[bool, typer.Option("--api-key", help="Read an API key from stdin.")] = False,
    basic: Annotated[bool, typer.Option("--basic", help="Read USERNAME:PASSWORD from stdin.")] = False,
    username: Annotated[
        str | None, typer.Option("--username", help="Basic auth user (password from stdin).")
    ] = None,
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
    """Store a credential for an instance (encrypted) and activate it.

    Example: echo "$TOKEN" | cuervo-fabric auth login api --with-token
    """
    fabric = state.fabric(insecure_storage=insecure_storage)
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    chosen = [f for f, on in (("--with-token", with_token), ("--api-key", api_key), ("--basic", basic)) if on]
    if len(chosen) > 1:
        raise InvalidInputError(f"choose one of {', '.join(chosen)}", details={"field": "auth"})
    expected = _FLAG_FOR.get(inst.auth_type)
    if chosen and chosen[0] != expected:
        raise InvalidInputError(
            f"instance {inst.name!r} uses {inst.auth_type}"
            + (f"; use {expected}" if expected else "; that flag does not apply"),
            details={"field": "auth"},
        )
    from cuervo_fabric.domain import lifecycle
    from cuervo_fabric.domain.models import InstanceStatus

    lifecycle.check_transition(inst.status, InstanceStatus.AUTHENTICATING, instance=inst.name)
    secret = None if inst.auth_type == "none" else _secret_for(inst.auth_type, username)
    inst = fabric.lifecycle.begin_auth(inst)
    try:
        if secret is not None:
            fabric.credentials.save(inst, secret)
            secret = None
        if verify and inst.auth_type != "none":
            call = fabric.gateway.new_call(inst.id, "health.check")
            call.health = True
            result = fabric.gateway.run(call)
            err = result.error or {}
            if not result.success and err.get("code") in ("AUTH_FAILED", "PERMISSION_DENIED"):
                raise AuthFailedError(f"the provider rejected the credential: {err.get('message')}")
            if result.success and (result.data or {}).get("details", {}).get("authValid") is False:
                raise AuthFailedError("the provider rejected the credential")
            if not result.success:
                _render.warn(
                    f"warning: could not verify the credential ({err.get('code')}): {err.get('message')}"
                )
    except FabricError as exc:
        fabric.lifecycle.finish_auth(inst, ok=False, error=exc.message)
        raise
    inst = fabric.lifecycle.finish_auth(inst, ok=True)
    if not state.json:
        _render.info(f"Logged in: {inst.name} is {inst.status.value} ({inst.auth_type}).")
    _render.emit(inst.to_dict(), lambda: None)


@app.command("status")
def status(
    instance: Annotated[str | None, typer.Argument(help="Instance (default: all).")] = None,
) -> None:
    """Show each instance's credential: type, key id, expiry (never the secret).

    Example: cuervo-fabric auth status work
    """
    fabric = state.fabric()
    targets = (
        [fabric.lifecycle.resolve(fabric.tenant, instance)]
        if instance
        else fabric.lifecycle.instances(fabric.tenant)
    )
    rows = []
    for inst in targets:
        rec = fabric.store.get_credential(inst.tenant_id, inst.id)
        rows.append(
            {
                "instance": inst.name,
                "instanceId": inst.id,
                "status": inst.status.value,
                "authType": inst.auth_type,
                "hasCredential": rec is not None or inst.auth_type == "none",
                "credentialType": rec.credential_type if rec else None,
                "keyId": rec.encryption_key_id if rec else None,
                "expiresAt": rec.expires_at if rec else None,
                "refreshedAt": rec.refreshed_at if rec else None,
            }
        )
    _render.emit(
        rows if instance is None else rows[0],
        lambda: _render.table(
            "Credentials",
            ["instance", "status", "auth", "credential", "key id"],
            [
                (
                    r["instance"],
                    r["status"],
                    r["authType"],
                    "yes" if r["hasCredential"] else "no",
                    r["keyId"] or "",
                )
                for r in rows
            ],
        ),
    )


@app.command("logout")
def logout(instance: InstanceArg) -> None:
    """Delete an instance's credential; the instance goes to error until the next login.

    Example: cuervo-fabric auth logout work
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    from cuervo_fabric.domain import lifecycle
    from cuervo_fabric.domain.models import InstanceStatus

    target = InstanceStatus.ERROR if lifecycle.can_transition(inst.status, InstanceStatus.ERROR) else None
    deleted = fabric.credentials.delete(inst)
    if target is not None:
        inst = fabric.lifecycle.transition(inst, target, reason="logged out: run auth login")
    _render.emit(
        {"instance": inst.name, "deleted": deleted, "status": inst.status.value},
        lambda: _render.info(f"Logged out {inst.name}: {deleted} credential(s) deleted."),
    )
