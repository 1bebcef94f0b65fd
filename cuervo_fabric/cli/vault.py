"""``cuervo-fabric vault ...``: where the master key lives, and generating one."""

from __future__ import annotations

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "Inspect the credential vault's master key.\n\nExample: [bold]cuervo-fabric vault status[/bold]"
)


@app.command("status")
def status() -> None:
    """Show where the master key comes from (env, keyring or file) and its id.

    Example: cuervo-fabric --json vault status
    """
    fabric = state.fabric()
    info = fabric.vault.key_info()
    count = sum(1 for _ in fabric.store.iter_all_credentials())
    data = {
        "keyId": info.key_id,
        "source": info.source,
        "detail": info.detail,
        "secure": info.secure,
        "credentials": count,
    }
    _render.emit(data, lambda: _render.kv("Vault", list(data.items())))
    if not info.secure:
        _render.warn("warning: the master key is in a plain file; set CUERVO_FABRIC_KEY or use a keyring")


@app.command("generate-key")
def generate_key() -> None:
    """Print a new random master key (base64) for CUERVO_FABRIC_KEY.

    Example: export CUERVO_FABRIC_KEY="$(cuervo-fabric vault generate-key)"
    """
    import base64
    import os

    typer.echo(base64.b64encode(os.urandom(32)).decode())
