"""Writing a sealed secret (a credential, a webhook secret) across a key rotation elsewhere.

The store fences every such write by the vault's key state: a record sealed with a master key
``vault rotate-key`` retired (in another process, after this one loaded its key) is refused and
nothing is written, because nobody could open it. The writer then reads its key from its source
again, seals again and writes once more. ``CUERVO_FABRIC_KEY`` cannot change under a running
process, so there the refusal becomes a clear error instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from cuervo_fabric.errors import AuthFailedError
from cuervo_fabric.ports import Vault

__all__ = ["RETIRED_KEY", "Reloadable", "write_fenced"]

#: ``details["reason"]`` of the store's refusal of a record sealed with a retired master key.
RETIRED_KEY = "master_key_retired"

_S = TypeVar("_S")
_T = TypeVar("_T")


@runtime_checkable
class Reloadable(Protocol):
    """A vault that can read its master key again (``LocalVault``)."""

    def reload(self, current_key_id: str | None = None) -> bool: ...


def write_fenced(vault: Vault, seal: Callable[[], _S], write: Callable[[_S], _T], what: str, then: str) -> _T:
    """``write(seal())``; after a refusal for a retired key, reload the key and do it once more.

    ``what`` names the secret and ``then`` the user's next step in the error when that fails.
    """
    try:
        return write(seal())
    except AuthFailedError as exc:
        if exc.details.get("reason") != RETIRED_KEY:
            raise
        refused = exc
    if not (isinstance(vault, Reloadable) and vault.reload(refused.details.get("currentKeyId"))):
        raise _stale_key(vault, refused, what, then) from refused
    try:
        return write(seal())
    except AuthFailedError as again:
        if again.details.get("reason") != RETIRED_KEY:
            raise
        raise _stale_key(vault, again, what, then) from again


def _stale_key(vault: Vault, refused: AuthFailedError, what: str, then: str) -> AuthFailedError:
    info = vault.peek_key_info()
    old, current = refused.details.get("keyId"), refused.details.get("currentKeyId")
    if info is not None and info.source == "env":
        how = "set CUERVO_FABRIC_KEY to the new key and restart this process"
    else:
        how = "restart this process (or set CUERVO_FABRIC_KEY to the new key)"
    return AuthFailedError(
        f"the vault's master key was rotated ({old} -> {current}) after this process loaded it, "
        f"so the {what} was not saved: {how}, then {then}",
        details=dict(refused.details),
    )
