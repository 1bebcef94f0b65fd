"""A bounded, honest use of the ``keyring`` package.

Only real OS backends count: keyring's ``fail``, ``null`` and plaintext/unencrypted backends are
refused, and every call runs under a timeout (a locked or absent D-Bus keyring can hang).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

__all__ = ["KeyringUnavailable", "backend_name", "keyring_delete", "keyring_get", "keyring_set"]

TIMEOUT_S = 3.0
_REFUSED = ("fail", "null", "plaintext", "unencrypted", "chainer")


class KeyringUnavailable(Exception):
    """No usable OS keyring backend (or it did not answer in time)."""


_backend: Any = None


def _usable_backend() -> Any:
    global _backend
    if _backend is not None:
        return _backend
    try:
        import keyring
        from keyring.backends import chainer
    except ImportError as exc:  # pragma: no cover - keyring is a dependency
        raise KeyringUnavailable("keyring is not installed") from exc
    direct = _platform_backend()
    backend = direct if direct is not None else keyring.get_keyring()
    candidates = list(backend.backends) if isinstance(backend, chainer.ChainerBackend) else [backend]
    for candidate in candidates:
        module = type(candidate).__module__.lower()
        name = type(candidate).__name__.lower()
        if any(word in module or word in name for word in _REFUSED):
            continue
        if getattr(candidate, "priority", 0) <= 0:
            continue
        _backend = candidate
        return candidate
    raise KeyringUnavailable(f"no secure keyring backend (found {type(backend).__name__})")


#: The OS's own keyring backend, by platform (module, class).
_PLATFORM_BACKENDS = {
    "linux": ("keyring.backends.SecretService", "Keyring"),
    "darwin": ("keyring.backends.macOS", "Keyring"),
    "win32": ("keyring.backends.Windows", "WinVaultKeyring"),
}


def _platform_backend() -> Any:
    """The platform's OS keyring, imported directly, when nothing overrides keyring's choice.

    ``keyring.get_keyring()`` imports and probes every installed backend (on Linux that includes
    the macOS one, whose ``ctypes`` library search alone costs ~30 ms) on every CLI call. When
    neither ``PYTHON_KEYRING_BACKEND`` nor a ``keyringrc.cfg`` picks a backend, the platform's own
    is what keyring would choose; ``None`` (keyring's discovery) when it is unavailable.
    """
    import importlib
    import os
    import sys

    target = _PLATFORM_BACKENDS.get(sys.platform)
    if target is None or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return None
    try:
        from keyring.util import platform_

        if (platform_.config_root() / "keyringrc.cfg").exists():
            return None
        candidate = getattr(importlib.import_module(target[0]), target[1])()
        if getattr(candidate, "priority", 0) > 0:  # raises when the service is not there
            return candidate
    except Exception:  # noqa: BLE001 - any trouble: let keyring discover as it always does
        return None
    return None


def _bounded(fn: Any, *args: Any) -> Any:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn, *args).result(timeout=TIMEOUT_S)
    except concurrent.futures.TimeoutError as exc:
        raise KeyringUnavailable(f"the keyring did not answer within {TIMEOUT_S:.0f} s") from exc
    except KeyringUnavailable:
        raise
    except Exception as exc:
        raise KeyringUnavailable(f"the keyring failed: {exc}") from exc
    finally:
        pool.shutdown(wait=False)


def backend_name() -> str:
    """The usable backend's class path, or ``"none"``."""
    try:
        b = _bounded(_usable_backend)
    except KeyringUnavailable:
        return "none"
    return f"{type(b).__module__}.{type(b).__name__}"


def keyring_get(service: str, user: str) -> str | None:
    backend = _bounded(_usable_backend)
    result: str | None = _bounded(backend.get_password, service, user)
    return result


def keyring_set(service: str, user: str, secret: str) -> None:
    backend = _bounded(_usable_backend)
    _bounded(backend.set_password, service, user, secret)


def keyring_delete(service: str, user: str) -> None:
    backend = _bounded(_usable_backend)
    _bounded(backend.delete_password, service, user)
