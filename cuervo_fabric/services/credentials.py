"""Storing, reading and deleting credentials: always sealed by the vault, never in clear."""

from __future__ import annotations

import time
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import AuthRequiredError, InvalidInputError
from cuervo_fabric.ports import CredentialRecord, Store, Vault

__all__ = ["CREDENTIAL_TYPES", "CredentialService"]

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


class CredentialService:
    """The vault-backed credential store of each instance (isolated per tenant and instance)."""

    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def save(
        self,
        instance: ConnectorInstance,
        secret: dict[str, Any],
        *,
        expires_at: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        ctype = CREDENTIAL_TYPES.get(instance.auth_type)
        if ctype is None:
            raise InvalidInputError(f"unknown auth type {instance.auth_type!r}")
        ciphertext, wrapped, key_id = self.vault.seal(instance.tenant_id, instance.id, secret)
        now = time.time()
        self.store.put_credential(
            CredentialRecord(
                instance_id=instance.id,
                tenant_id=instance.tenant_id,
                credential_type=ctype,
                encrypted_data=ciphertext,
                wrapped_key=wrapped,
                encryption_key_id=key_id,
                expires_at=expires_at,
                refreshed_at=now,
                created_at=now,
                metadata=metadata or {},
            )
        )

    def record(self, instance: ConnectorInstance) -> CredentialRecord | None:
        return self.store.get_credential(instance.tenant_id, instance.id)

    def load(self, instance: ConnectorInstance) -> dict[str, Any]:
        """The decrypted secret; ``AUTH_REQUIRED`` when there is none."""
        record = self.record(instance)
        if record is None:
            raise AuthRequiredError(
                f"instance {instance.name!r} has no credential: run "
                f"`cuervo-fabric auth login {instance.name}`",
                details={"instance": instance.name},
            )
        return self.vault.open(record)

    def delete(self, instance: ConnectorInstance) -> int:
        return self.store.delete_credentials(instance.tenant_id, instance.id)
