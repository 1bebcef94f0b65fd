"""``LocalVault``: envelope encryption with the master key from the ladder.

The ladder: ``CUERVO_FABRIC_KEY`` (base64 or hex of 32 bytes), else a real OS keyring backend,
else a 0600 key file beside the store with a loud warning. ``vault.strict = true`` refuses the file;
``insecure_storage=True`` (``--insecure-storage``) goes straight to it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from cuervo_fabric.errors import AuthFailedError, InternalError, InvalidInputError
from cuervo_fabric.ports import CredentialRecord, MasterKeyInfo

__all__ = ["LocalVault", "parse_key"]

KEYRING_SERVICE = "cuervo-fabric"
FILE_WARNING = (
    "WARNING: no OS keyring is available, so the vault's master key is kept in a plain file "
    "({path}, mode 0600). Anyone who can read that file can decrypt your credentials. "
    "Set CUERVO_FABRIC_KEY or install a keyring (e.g. gnome-keyring) to avoid this."
)


def parse_key(text: str) -> bytes:
    """Decode a 32-byte master key given as base64 (standard or url-safe) or hex."""
    raw = text.strip()
    candidates: list[bytes] = []
    if len(raw) == 64:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(raw))
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decoder(raw + "=" * (-len(raw) % 4)))
    for key in candidates:
        if len(key) == 32:
            return key
    raise InvalidInputError(
        "CUERVO_FABRIC_KEY must be 32 random bytes in base64 or hex "
        "(make one with: cuervo-fabric vault generate-key)",
        details={"field": "CUERVO_FABRIC_KEY"},
    )


class LocalVault:
    """The local adapter of the ``Vault`` port."""

    def __init__(
        self,
        key_file: Path,
        *,
        strict: bool = False,
        insecure_storage: bool = False,
        keyring_user: str = "master-key",
        warn: Any = None,
    ) -> None:
        self.key_file = key_file
        self.strict = strict
        self.insecure_storage = insecure_storage
        self.keyring_user = keyring_user
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))  # noqa: T201
        self._key: bytes | None = None
        self._info: MasterKeyInfo | None = None

    # -------------------------------------------------------------- master key ladder
    def _load(self, *, create: bool) -> tuple[bytes, MasterKeyInfo] | None:
        from cuervo_fabric.vault._crypto import generate_master_key, key_id_for

        env = os.environ.get("CUERVO_FABRIC_KEY")
        if env:
            key = parse_key(env)
            return key, MasterKeyInfo(key_id_for(key), "env", "CUERVO_FABRIC_KEY", True)
        if not self.insecure_storage and not self.key_file.exists():
            from cuervo_fabric.vault.keyring import KeyringUnavailable, keyring_get, keyring_set

            try:
                stored = keyring_get(KEYRING_SERVICE, self.keyring_user)
                if stored is None and create:
                    key = generate_master_key()
                    keyring_set(KEYRING_SERVICE, self.keyring_user, base64.b64encode(key).decode())
                    stored = keyring_get(KEYRING_SERVICE, self.keyring_user)
                if stored is not None:
                    key = base64.b64decode(stored)
                    return key, MasterKeyInfo(key_id_for(key), "keyring", _keyring_name(), True)
            except KeyringUnavailable:
                pass
        if self.key_file.exists():
            key = base64.b64decode(self.key_file.read_bytes().strip())
            return key, MasterKeyInfo(key_id_for(key), "file", str(self.key_file), False)
        if not create:
            return None
        if self.strict:
            raise AuthFailedError(
                "no OS keyring is available and vault.strict refuses a plain key file: "
                "set CUERVO_FABRIC_KEY or install a keyring",
                details={"keySource": "none"},
            )
        key = generate_master_key()
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(key) + b"\n")
        self._warn(FILE_WARNING.format(path=self.key_file))
        return key, MasterKeyInfo(key_id_for(key), "file", str(self.key_file), False)

    def _master(self, *, create: bool) -> bytes:
        if self._key is None:
            loaded = self._load(create=create)
            if loaded is None:
                raise AuthFailedError(
                    "the vault has no master key (was CUERVO_FABRIC_KEY set when these "
                    "credentials were stored?)",
                    details={"keySource": "none"},
                )
            self._key, self._info = loaded
        return self._key

    def key_info(self) -> MasterKeyInfo:
        self._master(create=True)
        assert self._info is not None
        return self._info

    # -------------------------------------------------------------- the Vault port
    def seal(self, tenant_id: str, instance_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes, str]:
        from cuervo_fabric.vault._crypto import seal_envelope

        key = self._master(create=True)
        assert self._info is not None
        data = json.dumps(payload, separators=(",", ":")).encode()
        ciphertext, wrapped = seal_envelope(key, tenant_id, instance_id, data)
        return ciphertext, wrapped, self._info.key_id

    def open(self, record: CredentialRecord) -> dict[str, Any]:
        from cuervo_fabric.vault._crypto import DecryptionError, open_envelope

        key = self._master(create=False)
        assert self._info is not None
        if record.encryption_key_id != self._info.key_id:
            raise AuthFailedError(
                f"this credential was encrypted with master key {record.encryption_key_id}, "
                f"but the current key is {self._info.key_id} ({self._info.source}); restore that "
                "key or log in again",
                details={"keyId": record.encryption_key_id},
            )
        try:
            data = open_envelope(
                key, record.tenant_id, record.instance_id, record.encrypted_data, record.wrapped_key
            )
        except DecryptionError as exc:
            raise AuthFailedError(f"cannot decrypt the credential: {exc}") from exc
        try:
            out: dict[str, Any] = json.loads(data)
        except ValueError as exc:  # pragma: no cover - authenticated encryption makes this moot
            raise InternalError("a decrypted credential is not JSON") from exc
        return out


def _keyring_name() -> str:
    from cuervo_fabric.vault.keyring import backend_name

    return backend_name()
