"""``LocalVault``: envelope encryption with the master key from the ladder.

The ladder: ``CUERVO_FABRIC_KEY`` (base64 or hex of 32 bytes), else a real OS keyring backend,
else a 0600 key file beside the store with a loud warning. ``vault.strict = true`` refuses the file;
``insecure_storage=True`` (``--insecure-storage``) goes straight to it.

Key rotation (``vault rotate-key``) never leaves a credential without a key that opens it:

1. the new key is stored as *pending* (keyring entry ``<user>.next`` or file ``master.key.next``);
2. every data key is re-wrapped under the new key, in one store transaction;
3. the pending key is promoted (replaces the old key, which is gone afterwards).

A crash between steps leaves either the old key with untouched rows, or the pending key beside
re-wrapped rows; both are found on the next start, because a pending key is always tried too.
With ``CUERVO_FABRIC_KEY`` the new key comes from the caller (``--new-key-stdin``) and the user
updates the variable afterwards.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cuervo_fabric.errors import AuthFailedError, FabricTimeoutError, InternalError, InvalidInputError
from cuervo_fabric.ports import CredentialRecord, MasterKeyInfo, RotationResult

__all__ = ["FILE_WARNING", "KEYRING_SERVICE", "LocalVault", "parse_key"]

KEYRING_SERVICE = "cuervo-fabric"
#: How many times a rotation commits before giving up when credentials keep changing under it.
COMMIT_ATTEMPTS = 5
FILE_WARNING = (
    "WARNING: {why}, so the vault's master key is kept in a plain file "
    "({path}, mode 0600). Anyone who can read that file can decrypt your credentials. "
    "Set CUERVO_FABRIC_KEY or use an OS keyring (e.g. gnome-keyring) to avoid this."
)


def parse_key(text: str, *, field: str = "CUERVO_FABRIC_KEY") -> bytes:
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
        f"{field} must be 32 random bytes in base64 or hex (make one with: cuervo-fabric vault generate-key)",
        details={"field": field},
    )


class LocalVault:
    """The local adapter of the ``Vault`` port.

    Args:
        key_file: where the file fallback keeps the key (``<data dir>/master.key``).
        strict: refuse the plain-file fallback (``vault.strict``).
        insecure_storage: use the file even when a keyring exists (``--insecure-storage``).
        keyring_user: the keyring entry's user name (one entry per fabric home).
        in_use: key ids the store's credentials are sealed with; a new master key is never
            created silently while credentials sealed with another key exist.
        warn: where the file-fallback warning goes (stderr by default).
    """

    def __init__(
        self,
        key_file: Path,
        *,
        strict: bool = False,
        insecure_storage: bool = False,
        keyring_user: str = "master-key",
        in_use: Callable[[], set[str]] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.key_file = key_file
        self.pending_file = key_file.with_name(key_file.name + ".next")
        self.strict = strict
        self.insecure_storage = insecure_storage
        self.keyring_user = keyring_user
        self.pending_user = keyring_user + ".next"
        self._in_use = in_use
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))  # noqa: T201
        self._key: bytes | None = None
        self._info: MasterKeyInfo | None = None
        #: key id -> key for keys found beside the current one (a rotation's pending key).
        self._others: dict[str, bytes] = {}
        #: Decrypted payloads by their exact ciphertext: a long-running process (the server)
        #: opens each credential once; a refreshed or re-wrapped one is new ciphertext.
        self._opened: dict[tuple[str, str, str, bytes, bytes], dict[str, Any]] = {}

    # -------------------------------------------------------------- master key ladder
    def _read_file(self, path: Path) -> bytes:
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise InternalError(f"cannot read the vault key file {path}: {exc}") from exc
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InternalError(
                f"the vault key file {path} is corrupt (expected 32 bytes in base64); restore it "
                "from a backup, or set CUERVO_FABRIC_KEY to the key the credentials were sealed with"
            )
        return key

    def _keyring_source(self) -> tuple[bytes | None, bytes | None]:
        """``(key, pending key)`` from the OS keyring; raises ``KeyringUnavailable``."""
        from cuervo_fabric.vault.keyring import keyring_get

        def decode(value: str | None, user: str) -> bytes | None:
            if value is None:
                return None
            try:
                key = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != 32:
                raise InternalError(
                    f"the keyring entry {KEYRING_SERVICE}/{user} is not a vault key (32 bytes, base64)"
                )
            return key

        return (
            decode(keyring_get(KEYRING_SERVICE, self.keyring_user), self.keyring_user),
            decode(keyring_get(KEYRING_SERVICE, self.pending_user), self.pending_user),
        )

    def _use_keyring(self) -> bool:
        return not self.insecure_storage and not self.key_file.exists()

    def _load(self, *, create: bool) -> tuple[bytes, MasterKeyInfo] | None:
        from cuervo_fabric.vault._crypto import generate_master_key, key_id_for

        self._others = {}
        env = os.environ.get("CUERVO_FABRIC_KEY")
        if env:
            key = parse_key(env)
            return key, MasterKeyInfo(key_id_for(key), "env", "CUERVO_FABRIC_KEY", True)
        if self._use_keyring():
            from cuervo_fabric.vault.keyring import KeyringUnavailable, keyring_set

            try:
                stored, pending = self._keyring_source()
                if pending is not None:
                    self._others[key_id_for(pending)] = pending
                if stored is None and create:
                    self._refuse_new_key("the OS keyring")
                    key = generate_master_key()
                    keyring_set(KEYRING_SERVICE, self.keyring_user, base64.b64encode(key).decode())
                    stored, _ = self._keyring_source()
                    if stored != key:
                        raise InternalError("the OS keyring did not keep the vault's new master key")
                if stored is not None:
                    return stored, MasterKeyInfo(key_id_for(stored), "keyring", _keyring_name(), True)
            except KeyringUnavailable:
                pass
        if self.pending_file.exists():
            pending = self._read_file(self.pending_file)
            self._others[key_id_for(pending)] = pending
        if self.key_file.exists():
            key = self._read_file(self.key_file)
            return key, MasterKeyInfo(key_id_for(key), "file", str(self.key_file), False)
        if not create:
            return None
        if self.strict:
            raise AuthFailedError(
                "no OS keyring is available and vault.strict refuses a plain key file: "
                "set CUERVO_FABRIC_KEY or install a keyring",
                details={"keySource": "none"},
            )
        self._refuse_new_key("a new key file")
        key = generate_master_key()
        _write_private(self.key_file, base64.b64encode(key) + b"\n", exclusive=True)
        why = "--insecure-storage was given" if self.insecure_storage else "no OS keyring is available"
        self._warn(FILE_WARNING.format(why=why, path=self.key_file))
        return key, MasterKeyInfo(key_id_for(key), "file", str(self.key_file), False)

    def _refuse_new_key(self, where: str) -> None:
        """Creating a key while credentials sealed with another one exist would strand them."""
        used = self._in_use() if self._in_use is not None else set()
        used -= set(self._others)
        if used:
            raise AuthFailedError(
                f"the vault's master key is missing: {len(used)} key id(s) seal the stored "
                f"credentials ({', '.join(sorted(used))}), so no new key is created in {where}. "
                "Set CUERVO_FABRIC_KEY to that key (or restore the keyring entry or key file)",
                details={"keySource": "none", "keyIds": sorted(used)},
            )

    def _master(self, *, create: bool) -> bytes:
        if self._key is None:
            loaded = self._load(create=create)
            if loaded is None:
                raise AuthFailedError(
                    "the vault has no master key: set CUERVO_FABRIC_KEY to the key the credentials "
                    "were sealed with (or restore the keyring entry or key file)",
                    details={"keySource": "none"},
                )
            self._key, self._info = loaded
        return self._key

    def key_info(self) -> MasterKeyInfo:
        """The current key's facts, creating a key when there is none."""
        self._master(create=True)
        assert self._info is not None
        return self._info

    def peek_key_info(self) -> MasterKeyInfo | None:
        """The current key's facts, or ``None`` when there is no key (never creates one)."""
        if self._key is None:
            loaded = self._load(create=False)
            if loaded is None:
                return None
            self._key, self._info = loaded
        return self._info

    def reload(self, current_key_id: str | None = None) -> bool:
        """Read the master key from its source again; whether the key that seals changed.

        For a process whose key a rotation in another process retired (the store refused its
        write). ``current_key_id`` is the key the store says is current: when it is a pending key
        found beside the stored one (a rotation committed but has not, or never, promoted it),
        it seals from now on. ``CUERVO_FABRIC_KEY`` cannot change under a running process.
        """
        before = self._info.key_id if self._info is not None else None
        loaded = self._load(create=False)
        if loaded is None:
            return False
        self._key, self._info = loaded
        if current_key_id is not None and current_key_id in self._others:
            self._key = self._others[current_key_id]
            self._info = replace(self._info, key_id=current_key_id)
            self._others = {}
        return self._info.key_id != before

    # -------------------------------------------------------------- the Vault port
    def seal(self, tenant_id: str, instance_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes, str]:
        from cuervo_fabric.vault._crypto import seal_envelope

        key = self._master(create=True)
        assert self._info is not None
        data = json.dumps(payload, separators=(",", ":")).encode()
        ciphertext, wrapped = seal_envelope(key, tenant_id, instance_id, data)
        return ciphertext, wrapped, self._info.key_id

    def _key_for(self, key_id: str) -> bytes:
        key = self._master(create=False)
        assert self._info is not None
        if key_id == self._info.key_id:
            return key
        if key_id in self._others:
            return self._others[key_id]
        # A rotation in another process may have replaced the key this (long-running) process
        # loaded: read it from its source again before giving up.
        if self._info.source != "env" and self.reload(key_id):
            if key_id == self._info.key_id:
                return self._key if self._key is not None else key
            if key_id in self._others:
                return self._others[key_id]
        raise AuthFailedError(
            f"this credential was sealed with master key {key_id}, but the current key is "
            f"{self._info.key_id} (from {self._info.source}); set CUERVO_FABRIC_KEY to the key "
            "it was sealed with, or log in again",
            details={"keyId": key_id, "currentKeyId": self._info.key_id},
        )

    def open(self, record: CredentialRecord) -> dict[str, Any]:
        from cuervo_fabric.vault._crypto import DecryptionError, open_envelope

        key = self._key_for(record.encryption_key_id)
        memo = (
            record.tenant_id,
            record.instance_id,
            record.encryption_key_id,
            record.wrapped_key,
            record.encrypted_data,
        )
        opened = self._opened.get(memo)
        if opened is not None:
            return dict(opened)
        try:
            data = open_envelope(
                key, record.tenant_id, record.instance_id, record.encrypted_data, record.wrapped_key
            )
        except DecryptionError as exc:
            raise AuthFailedError(
                f"cannot decrypt the credential of instance {record.instance_id}: {exc}; log in again",
                details={"keyId": record.encryption_key_id},
            ) from exc
        try:
            out: dict[str, Any] = json.loads(data)
        except ValueError as exc:  # pragma: no cover - authenticated encryption makes this moot
            raise InternalError("a decrypted credential is not JSON") from exc
        if len(self._opened) >= 256:
            self._opened.clear()
        self._opened[memo] = out
        return dict(out)

    # -------------------------------------------------------------- key rotation
    def rotate(
        self,
        records: Sequence[CredentialRecord],
        commit: Callable[[list[CredentialRecord]], Sequence[CredentialRecord] | None],
        *,
        new_key: bytes | None = None,
    ) -> RotationResult:
        """Re-wrap every data key under a new master key; the old key opens nothing afterwards.

        ``commit`` writes the re-wrapped records in one transaction. It may instead write nothing
        and return the records that changed since they were read (a compare-and-swap that lost):
        they are re-wrapped and everything is committed again, up to ``COMMIT_ATTEMPTS`` times.
        Nothing changes when a record is sealed with a key this vault does not hold, or when
        ``new_key`` is the current key.
        """
        from cuervo_fabric.vault._crypto import generate_master_key, key_id_for

        self._master(create=True)
        records = self._settle_pending(list(records), commit)
        info = self._info
        assert info is not None
        assert self._key is not None
        strangers = sorted({r.encryption_key_id for r in records} - {info.key_id})
        if strangers:
            raise AuthFailedError(
                f"cannot rotate: some credentials are sealed with key(s) this vault does not hold "
                f"({', '.join(strangers)}); set CUERVO_FABRIC_KEY to that key, or log those "
                "instances out first. Nothing was changed",
                details={"keyIds": strangers},
            )
        if info.source == "env" and new_key is None:
            raise InvalidInputError(
                "the master key comes from CUERVO_FABRIC_KEY, which cuervo-fabric cannot change: "
                "pipe a new key in with --new-key-stdin (make one with `cuervo-fabric vault "
                "generate-key`), then set CUERVO_FABRIC_KEY to it",
                details={"field": "new-key-stdin"},
            )
        key = new_key or generate_master_key()
        new_id = key_id_for(key)
        if new_id == info.key_id:
            raise InvalidInputError(
                "the new key must differ from the current key", details={"field": "new-key-stdin"}
            )
        keys = {info.key_id: self._key}
        rewrapped = self._promote(key, self._rewrap_all(records, keys, key), commit, keys)
        return RotationResult(
            old_key_id=info.key_id, new_key_id=new_id, rewrapped=len(rewrapped), source=info.source
        )

    def _rewrap_all(
        self, records: Sequence[CredentialRecord], keys: dict[str, bytes], new_key: bytes
    ) -> list[CredentialRecord]:
        from cuervo_fabric.vault._crypto import DecryptionError, key_id_for, rewrap

        new_id = key_id_for(new_key)
        out: list[CredentialRecord] = []
        for r in records:
            try:
                wrapped = rewrap(
                    keys[r.encryption_key_id], new_key, r.tenant_id, r.instance_id, r.wrapped_key
                )
            except DecryptionError as exc:
                raise AuthFailedError(
                    f"cannot rotate: the data key of instance {r.instance_id} does not unwrap "
                    f"({exc}); nothing was changed",
                    details={"instanceId": r.instance_id},
                ) from exc
            out.append(replace(r, wrapped_key=wrapped, encryption_key_id=new_id))
        return out

    def _promote(
        self,
        key: bytes,
        rewrapped: list[CredentialRecord],
        commit: Callable[[list[CredentialRecord]], Sequence[CredentialRecord] | None],
        keys: dict[str, bytes],
    ) -> list[CredentialRecord]:
        """Store ``key`` as pending, commit the re-wrapped rows, then make ``key`` the current key.

        Returns the rows as finally committed (``_commit`` may have re-wrapped fresher ones).
        """
        from cuervo_fabric.vault._crypto import key_id_for

        info = self._info
        assert info is not None
        encoded = base64.b64encode(key).decode()
        if info.source == "keyring":
            from cuervo_fabric.vault.keyring import keyring_set

            keyring_set(KEYRING_SERVICE, self.pending_user, encoded)
            rewrapped = self._commit(key, rewrapped, commit, keys)
            keyring_set(KEYRING_SERVICE, self.keyring_user, encoded)
            self._drop_pending()
        elif info.source == "file":
            _write_private(self.pending_file, encoded.encode() + b"\n", exclusive=False)
            rewrapped = self._commit(key, rewrapped, commit, keys)
            os.replace(self.pending_file, self.key_file)
        else:
            rewrapped = self._commit(key, rewrapped, commit, keys)
        self._key = key
        self._info = MasterKeyInfo(key_id_for(key), info.source, info.detail, info.secure)
        self._others = {}
        return rewrapped

    def _commit(
        self,
        key: bytes,
        rewrapped: list[CredentialRecord],
        commit: Callable[[list[CredentialRecord]], Sequence[CredentialRecord] | None],
        keys: dict[str, bytes],
    ) -> list[CredentialRecord]:
        """``commit`` the rows; while it answers with rows written since they were read (a login or
        a token refresh in another process), re-wrap those too and commit again.

        The old key is still held here, so a fresher row sealed with it re-wraps like the others.
        Nothing is committed until a round finds nothing changed, and the pending key stays
        stored meanwhile, so a failure here leaves the state a crash before step 2 leaves.
        """
        from cuervo_fabric.vault._crypto import key_id_for

        new_id = key_id_for(key)
        for _ in range(COMMIT_ATTEMPTS):
            changed = commit(rewrapped)
            if not changed:
                return rewrapped
            strangers = sorted({r.encryption_key_id for r in changed} - set(keys) - {new_id})
            if strangers:
                raise AuthFailedError(
                    f"cannot rotate: a credential written during the rotation is sealed with key(s) "
                    f"this vault does not hold ({', '.join(strangers)}); nothing was changed",
                    details={"keyIds": strangers},
                )
            fresh = [r for r in changed if r.encryption_key_id == new_id]
            fresh += self._rewrap_all([r for r in changed if r.encryption_key_id != new_id], keys, key)
            by_instance = {(r.tenant_id, r.instance_id): r for r in rewrapped}
            by_instance.update({(r.tenant_id, r.instance_id): r for r in fresh})
            rewrapped = list(by_instance.values())
        raise FabricTimeoutError(
            f"cannot rotate: credentials kept changing while they were re-wrapped ({COMMIT_ATTEMPTS} "
            "attempts); nothing was changed, try again",
            retryable=True,
        )

    def _drop_pending(self) -> None:
        if self._info is not None and self._info.source == "keyring":
            from cuervo_fabric.vault.keyring import KeyringUnavailable, keyring_delete

            with contextlib.suppress(KeyringUnavailable):
                keyring_delete(KEYRING_SERVICE, self.pending_user)
        else:
            self.pending_file.unlink(missing_ok=True)
        self._others = {}

    def _settle_pending(
        self,
        records: list[CredentialRecord],
        commit: Callable[[list[CredentialRecord]], Sequence[CredentialRecord] | None],
    ) -> list[CredentialRecord]:
        """Finish a rotation a crash interrupted, so every credential is on one key again."""
        if not self._others:
            return records
        assert self._info is not None
        assert self._key is not None
        pending_id, pending = next(iter(self._others.items()))
        if not any(r.encryption_key_id == pending_id for r in records):
            self._drop_pending()  # stored, but the re-wrap never committed: unused
            return records
        current_id = self._info.key_id
        stale = [r for r in records if r.encryption_key_id == current_id]
        keys = {current_id: self._key}
        moved = self._promote(pending, self._rewrap_all(stale, keys, pending), commit, keys)
        by_instance = {(r.tenant_id, r.instance_id): r for r in moved}
        return [by_instance.get((r.tenant_id, r.instance_id), r) for r in records]


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to a file only its owner can read (0600, created that way, fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)


def _keyring_name() -> str:
    from cuervo_fabric.vault.keyring import backend_name

    return backend_name()
