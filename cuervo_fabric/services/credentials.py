"""Storing, reading, refreshing and deleting credentials: always sealed by the vault, never in clear.

Refresh is the delicate part. Every CLI call is its own process, and refresh tokens rotate: if two
processes spent the same refresh token, the provider would treat the second use as a replay and
revoke the whole grant. So a refresh runs under a cross-process lease in the store and, once the
lease is held, *re-reads* the credential: when another process refreshed meanwhile, its token is
used and no second refresh goes out.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import (
    AuthFailedError,
    AuthRequiredError,
    FabricTimeoutError,
    InvalidInputError,
)
from cuervo_fabric.ports import CredentialRecord, RotationResult, Store, Vault, WebhookStore
from cuervo_fabric.services._fence import write_fenced

__all__ = [
    "CREDENTIAL_TYPES",
    "CredentialService",
    "Renewal",
    "Renewer",
    "refresh_leeway",
]

#: auth type -> credential_type column value
CREDENTIAL_TYPES = {
    "oauth2": "oauth2_token",
    "api_key": "api_key",
    "bearer_token": "bearer_token",
    "basic_auth": "basic_auth",
    "service_account": "service_account",
    "mtls": "mtls_cert",
    "none": "none",
}

#: Refresh this long before expiry at most (a short-lived token refreshes at half its life).
MAX_LEEWAY_S = 60.0
#: A refresh lease lasts this long; a crashed holder blocks others for at most this.
LOCK_TTL_S = 30.0
#: How long a process waits for another one's refresh before giving up.
LOCK_WAIT_S = 45.0
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Renewal:
    """A renewed credential: the new sealed payload, its expiry and its clear metadata."""

    secret: dict[str, Any]
    expires_at: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


#: Exchanges a credential for a fresh one at the provider (OAuth refresh grant, a new service
#: account assertion, a new GitHub App installation token). Raises ``AuthFailedError`` when the
#: provider refuses for good, other ``FabricError``s when it could not be asked.
Renewer = Callable[[ConnectorInstance, dict[str, Any]], Renewal]


def refresh_leeway(record: CredentialRecord) -> float:
    """Seconds before ``expires_at`` at which a credential counts as due for refresh."""
    if record.expires_at is None:
        return 0.0
    lifetime = record.expires_at - (record.refreshed_at or record.created_at or record.expires_at)
    return max(0.0, min(MAX_LEEWAY_S, lifetime / 2))


def _token_of(secret: dict[str, Any] | None) -> Any:
    if not secret:
        return None
    return secret.get("access_token") or secret.get("token")


class CredentialService:
    """The vault-backed credential store of each instance (isolated per tenant and instance).

    Args:
        store: where sealed credentials and refresh leases live.
        vault: seals and opens payloads (bound to tenant and instance).
        on_refresh_failed: told when a provider refused a refresh (the instance goes to ``error``).
        on_refreshed: told after a successful refresh (an instance in ``error`` may recover).
        clock: wall time, injectable.
    """

    def __init__(
        self,
        store: Store,
        vault: Vault,
        *,
        on_refresh_failed: Callable[[ConnectorInstance, str], None] | None = None,
        on_refreshed: Callable[[ConnectorInstance], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.vault = vault
        self._on_failed = on_refresh_failed
        self._on_refreshed = on_refreshed
        self._clock = clock
        #: (tenant, instance) -> (version, record, secret): credentials this process opened
        #: for calls that named the version they expect (see ``fresh``).
        self._opened: dict[tuple[str, str], tuple[bytes, CredentialRecord, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ basic storage
    def save(
        self,
        instance: ConnectorInstance,
        secret: dict[str, Any],
        *,
        expires_at: float | None = None,
        metadata: dict[str, Any] | None = None,
        created_at: float | None = None,
    ) -> None:
        ctype = CREDENTIAL_TYPES.get(instance.auth_type)
        if ctype is None:
            raise InvalidInputError(f"unknown auth type {instance.auth_type!r}")
        self._opened.pop((instance.tenant_id, instance.id), None)
        now = self._clock()

        def sealed() -> CredentialRecord:
            ciphertext, wrapped, key_id = self.vault.seal(instance.tenant_id, instance.id, secret)
            return CredentialRecord(
                instance_id=instance.id,
                tenant_id=instance.tenant_id,
                credential_type=ctype,
                encrypted_data=ciphertext,
                wrapped_key=wrapped,
                encryption_key_id=key_id,
                expires_at=expires_at,
                refreshed_at=now,
                created_at=created_at or now,
                metadata=metadata or {},
            )

        write_fenced(self.vault, sealed, self.store.put_credential, "credential", "log in again if needed")

    def record(self, instance: ConnectorInstance) -> CredentialRecord | None:
        return self.store.get_credential(instance.tenant_id, instance.id)

    def _require(self, instance: ConnectorInstance) -> CredentialRecord:
        record = self.record(instance)
        if record is None:
            raise AuthRequiredError(
                f"instance {instance.name!r} has no credential: run "
                f"`cuervo-fabric auth login {instance.name}`",
                details={"instance": instance.name},
            )
        return record

    def load(self, instance: ConnectorInstance) -> dict[str, Any]:
        """The decrypted secret; ``AUTH_REQUIRED`` when there is none."""
        return self.vault.open(self._require(instance))

    def delete(self, instance: ConnectorInstance) -> int:
        self._opened.pop((instance.tenant_id, instance.id), None)
        return self.store.delete_credentials(instance.tenant_id, instance.id)

    def rotate_master_key(
        self, new_key: bytes | None = None, *, sealed: WebhookStore | None = None
    ) -> RotationResult:
        """Re-wrap every data key under a new master key, in one transaction.

        ``sealed`` adds the webhook secrets the vault sealed (endpoints and subscriptions), so they
        keep opening after the rotation.
        """
        self._opened.clear()
        records = list(self.store.iter_all_credentials())
        others = list(sealed.iter_sealed()) if sealed is not None else []
        sealed_ids = {(r.tenant_id, r.instance_id) for r in others}
        #: (tenant, instance) -> wrapped_key as last read or committed: the compare-and-swap.
        expected = {(r.tenant_id, r.instance_id): r.wrapped_key for r in records}
        #: The same for the sealed webhook secrets, keyed by (tenant, vault subject).
        expected_sealed = {(r.tenant_id, r.instance_id): r.wrapped_key for r in others}

        class SealedChanged(Exception):
            """Rolls the rotation's transaction back: sealed secrets changed since they were read."""

            def __init__(self, rows: list[CredentialRecord]) -> None:
                super().__init__()
                self.rows = rows

        def commit(rewrapped: list[CredentialRecord]) -> list[CredentialRecord]:
            mine = [r for r in rewrapped if (r.tenant_id, r.instance_id) not in sealed_ids]
            theirs = [r for r in rewrapped if (r.tenant_id, r.instance_id) in sealed_ids]

            def also() -> None:
                # Inside the credentials' transaction (after it locked the key state): a sealed
                # secret written or added since it was read makes the whole transaction roll back.
                assert sealed is not None
                changed = sealed.replace_sealed(theirs, expected=dict(expected_sealed))
                if changed:
                    raise SealedChanged(changed)

            # The key being replaced is still the vault's current one until the commit succeeds.
            info = self.vault.peek_key_info()
            old_id = info.key_id if info is not None else None
            new_ids = {r.encryption_key_id for r in rewrapped}
            rotation = (old_id, next(iter(new_ids)) if len(new_ids) == 1 else None) if old_id else None
            try:
                changed = self.store.replace_credentials(
                    mine,
                    also=also if sealed is not None else None,
                    expected=dict(expected),
                    rotation=rotation,
                )
            except SealedChanged as lost:
                sealed_ids.update((r.tenant_id, r.instance_id) for r in lost.rows)
                expected_sealed.update({(r.tenant_id, r.instance_id): r.wrapped_key for r in lost.rows})
                return lost.rows
            if changed:
                expected.update({(r.tenant_id, r.instance_id): r.wrapped_key for r in changed})
            else:
                expected.update({(r.tenant_id, r.instance_id): r.wrapped_key for r in mine})
                expected_sealed.update({(r.tenant_id, r.instance_id): r.wrapped_key for r in theirs})
            return changed

        return self.vault.rotate([*records, *others], commit, new_key=new_key)

    # ------------------------------------------------------------------ refresh
    def is_due(self, record: CredentialRecord) -> bool:
        """Whether the credential expires within its leeway (or has expired)."""
        if record.expires_at is None:
            return False
        return self._clock() >= record.expires_at - refresh_leeway(record)

    def fresh(
        self, instance: ConnectorInstance, renew: Renewer | None, *, version: bytes | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The secret to use now, refreshed first when due; ``(secret, refreshed by this call)``.

        ``version`` is the credential's version (its ``wrapped_key``) as the caller just saw it
        in the store: a long-running process then opens an unchanged credential once, not on
        every call. Any write (a refresh, a login, a key rotation, in any process) changes it.
        """
        key = (instance.tenant_id, instance.id)
        if version is not None:
            held = self._opened.get(key)
            if held is not None and held[0] == version and (renew is None or not self.is_due(held[1])):
                return held[2], False
        record = self._require(instance)
        if renew is None or not self.is_due(record):
            secret = self.vault.open(record)
            if version is not None:
                self._opened[key] = (bytes(record.wrapped_key), record, secret)
            return secret, False
        return self.refresh(instance, renew)

    def refresh(
        self,
        instance: ConnectorInstance,
        renew: Renewer,
        *,
        rejected: dict[str, Any] | None = None,
        force: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Refresh under the instance's lease; ``(secret, True)`` when this call refreshed it.

        After taking the lease the credential is read again. It is *not* refreshed when another
        process already did: when it is no longer due (expiry path), or when its token differs
        from ``rejected``, the secret a provider answered 401 to (401 path). ``force`` always
        refreshes (``auth refresh``).
        """
        with self._lease(instance):
            record = self._require(instance)
            secret = self.vault.open(record)
            if not force:
                if rejected is not None and _token_of(secret) != _token_of(rejected):
                    return secret, False
                if rejected is None and not self.is_due(record):
                    return secret, False
            try:
                renewal = renew(instance, secret)
            except AuthFailedError as exc:
                if self._on_failed is not None:
                    self._on_failed(instance, f"credential refresh failed: {exc.message}")
                raise
            metadata = {**(record.metadata or {}), **renewal.metadata}
            self.save(
                instance,
                renewal.secret,
                expires_at=renewal.expires_at,
                metadata=metadata,
                created_at=record.created_at,
            )
        if self._on_refreshed is not None:
            self._on_refreshed(instance)
        return renewal.secret, True

    @contextmanager
    def _lease(self, instance: ConnectorInstance) -> Iterator[None]:
        """Hold the instance's refresh lease (a row in the store), waiting for it if needed."""
        holder = f"{os.getpid()}:{uuid.uuid4().hex}"
        tenant, iid = instance.tenant_id, instance.id
        give_up = time.monotonic() + LOCK_WAIT_S
        while True:
            now = self._clock()
            if self.store.try_refresh_lock(tenant, iid, holder, now + LOCK_TTL_S, now):
                break
            if time.monotonic() >= give_up:
                raise FabricTimeoutError(
                    f"another process has been refreshing the credential of {instance.name!r} for "
                    f"over {LOCK_WAIT_S:.0f} s; try again",
                    details={"instance": instance.name},
                )
            time.sleep(_POLL_S)  # real waiting: the other holder is another process
        try:
            yield
        finally:
            self.store.release_refresh_lock(tenant, iid, holder)
