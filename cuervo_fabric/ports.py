"""Ports: the protocols the services depend on. Adapters live in ``store/``, ``vault/``, ...

Services import these protocols and the domain only; ``bootstrap.py`` picks the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cuervo_fabric.domain.models import ConnectorInstance, ConnectorSpec, InstanceStatus

__all__ = [
    "Clock",
    "ConnectorRegistry",
    "CredentialRecord",
    "MasterKeyInfo",
    "Store",
    "Vault",
]


class Clock(Protocol):
    """Wall and monotonic time, injectable so tests need no sleeping."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """An encrypted credential row; ``encrypted_data`` never holds clear text."""

    instance_id: str
    tenant_id: str
    credential_type: str
    encrypted_data: bytes
    wrapped_key: bytes
    encryption_key_id: str
    expires_at: float | None = None
    refreshed_at: float | None = None
    created_at: float = 0.0
    metadata: dict[str, Any] | None = None


class Store(Protocol):
    """Persistence of everything the fabric owns. Every tenant-owned query is scoped by tenant."""

    backend: str

    def close(self) -> None: ...

    # --- the registry (platform-wide, not tenant-owned) ---
    def sync_registry(self, specs: Sequence[ConnectorSpec]) -> None: ...

    def list_registry(self) -> list[dict[str, Any]]: ...

    # --- instances ---
    def insert_instance(self, instance: ConnectorInstance) -> None:
        """Insert; raises ``InvalidInputError`` when the name is taken in the tenant."""
        ...

    def get_instance(self, tenant_id: str, instance_id: str) -> ConnectorInstance | None: ...

    def list_instances(
        self, tenant_id: str, *, include_uninstalled: bool = False
    ) -> list[ConnectorInstance]: ...

    def update_instance(
        self,
        tenant_id: str,
        instance_id: str,
        changes: dict[str, Any],
        *,
        expected_status: InstanceStatus | None = None,
    ) -> ConnectorInstance | None:
        """Apply ``changes`` in one conditional statement.

        Returns the updated instance, or ``None`` when no row matched (gone, other tenant, or its
        status is no longer ``expected_status`` because another process moved it first).
        """
        ...

    def purge_instance_data(self, tenant_id: str, instance_id: str) -> None:
        """Delete what belongs to the instance (credentials, gateway state), keep its row."""
        ...

    # --- credentials ---
    def put_credential(self, record: CredentialRecord) -> None: ...

    def get_credential(self, tenant_id: str, instance_id: str) -> CredentialRecord | None: ...

    def delete_credentials(self, tenant_id: str, instance_id: str) -> int: ...

    def iter_all_credentials(self) -> Iterator[CredentialRecord]:
        """Every credential of every tenant: key rotation only."""
        ...

    def replace_credentials(self, records: Sequence[CredentialRecord]) -> None:
        """Rewrite many credentials in one transaction (key rotation)."""
        ...


@dataclass(frozen=True, slots=True)
class MasterKeyInfo:
    """Where the vault's master key comes from (shown by ``vault status``)."""

    key_id: str
    source: str  # env | keyring | file
    detail: str
    secure: bool


class Vault(Protocol):
    """Encrypts and decrypts credential payloads, bound to tenant and instance."""

    def seal(self, tenant_id: str, instance_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes, str]:
        """Return ``(ciphertext, wrapped_data_key, key_id)``."""
        ...

    def open(self, record: CredentialRecord) -> dict[str, Any]: ...

    def key_info(self) -> MasterKeyInfo: ...


class ConnectorRegistry(Protocol):
    """Connectors discovered through the ``cuervo_fabric.connectors`` entry-point group."""

    def specs(self) -> list[ConnectorSpec]: ...

    def get(self, connector_id: str, version: str | None = None) -> ConnectorSpec: ...

    def load(self, connector_id: str) -> Any:
        """The connector class (an ``sdk.BaseConnector`` subclass)."""
        ...
