"""``cuervo-fabric vault ...``: where the master key lives, generating one, rotating it."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Annotated

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import InvalidInputError

__all__ = ["app"]

app = new_app(
    "Inspect and rotate the credential vault's master key.\n\n"
    "Example: [bold]cuervo-fabric vault status[/bold]"
)


@app.command("status")
def status() -> None:
    """Show where the master key comes from (env, keyring or file) and its id.

    Also counts the credentials it cannot open. Never creates a key.

    Example: cuervo-fabric --json vault status
    """
    from cuervo_fabric.vault.keyring import backend_name

    fabric = state.fabric()
    info = fabric.vault.peek_key_info()
    by_key = Counter(r.encryption_key_id for r in fabric.store.iter_all_credentials())
    current = info.key_id if info else None
    data = {
        "keyId": current,
        "source": info.source if info else "none",
        "detail": info.detail if info else None,
        "secure": info.secure if info else None,
        "keyringBackend": backend_name(),
        "strict": fabric.settings.vault_strict,
        "credentials": sum(by_key.values()),
        "credentialsByKey": dict(by_key),
        "unreadable": sum(n for k, n in by_key.items() if k != current),
    }
    _render.emit(data, lambda: _render.kv("Vault", list(data.items())))
    if info is None:
        _render.warn(
            "warning: there is no master key yet (one is created at the first login); set "
            "CUERVO_FABRIC_KEY if the credentials were sealed with one"
        )
    elif not info.secure:
        _render.warn(
            f"WARNING: the master key is in a plain file ({info.detail}); anyone who can read it can "
            "decrypt the credentials. Set CUERVO_FABRIC_KEY or use a keyring"
        )
    if data["unreadable"]:
        _render.warn(
            f"warning: {data['unreadable']} credential(s) are sealed with another key than the current "
            "one and cannot be opened: set CUERVO_FABRIC_KEY to that key"
        )


@app.command("rotate-key")
def rotate_key(
    new_key_stdin: Annotated[
        bool,
        typer.Option(
            "--new-key-stdin",
            help="Read the new key (base64 or hex of 32 bytes) from stdin; required when the "
            "key comes from CUERVO_FABRIC_KEY.",
        ),
    ] = False,
) -> None:
    """Re-wrap every credential's data key under a new master key; the old key opens nothing.

    With a keyring or key file, the new key replaces the old one there.
    With CUERVO_FABRIC_KEY, pipe the new key in, then update the variable.

    Example: cuervo-fabric vault rotate-key --new-key-stdin < new.key
    """
    from cuervo_fabric.vault.local import parse_key

    new_key = None
    if new_key_stdin:
        text = sys.stdin.readline().strip()
        if not text:
            raise InvalidInputError(
                "expected the new key on stdin, got nothing", details={"field": "new-key-stdin"}
            )
        new_key = parse_key(text, field="new-key-stdin")
    fabric = state.fabric()
    result = fabric.credentials.rotate_master_key(new_key, sealed=fabric.sealed_store())
    data = {
        "oldKeyId": result.old_key_id,
        "newKeyId": result.new_key_id,
        "rewrapped": result.rewrapped,
        "source": result.source,
    }
    _render.emit(
        data,
        lambda: _render.info(
            f"Rotated the master key: {result.rewrapped} credential(s) re-wrapped, "
            f"{result.old_key_id} -> {result.new_key_id} ({result.source})."
        ),
    )
    if result.source == "env":
        _render.warn("Now set CUERVO_FABRIC_KEY to the new key: the old one no longer opens any credential.")


@app.command("generate-key")
def generate_key() -> None:
    """Print a new random master key (base64) for CUERVO_FABRIC_KEY.

    Example: export CUERVO_FABRIC_KEY="$(cuervo-fabric vault generate-key)"
    """
    import base64
    import os

    typer.echo(base64.b64encode(os.urandom(32)).decode())
