"""The composition root: the only module that picks adapters.

``Fabric`` builds each part on first use, so a command pays only for what it touches (``connector
list`` never imports the crypto or HTTP stacks).
"""

from __future__ import annotations

import getpass
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cuervo_fabric.config import Settings, load_settings
from cuervo_fabric.errors import InvalidInputError

if TYPE_CHECKING:
    from cuervo_fabric.gateway.executor import Gateway
    from cuervo_fabric.gateway.pipeline import Call, Middleware
    from cuervo_fabric.ports import Store
    from cuervo_fabric.registry import EntryPointRegistry
    from cuervo_fabric.services.credentials import CredentialService
    from cuervo_fabric.services.lifecycle import LifecycleService
    from cuervo_fabric.vault.local import LocalVault

__all__ = ["Fabric", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store of the active profile: SQLite by default, PostgreSQL when configured."""
    prof = settings.profile
    if prof.type == "remote":
        raise InvalidInputError(
            f"profile {prof.name!r} points at a remote fabric ({prof.url}); remote profiles are "
            "not supported by this version yet",
            details={"field": "profile"},
        )
    if prof.database_url:
        from cuervo_fabric.store.postgres import PostgresStore

        return PostgresStore(prof.database_url)
    from pathlib import Path

    from cuervo_fabric.store.sqlite import SqliteStore

    return SqliteStore(Path(prof.database) if prof.database else settings.paths.database)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
        return os.environ.get("USER", "local")


class Fabric:
    """Everything one CLI call (or one server request) needs, wired once."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        insecure_storage: bool = False,
        extra_connectors: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.tenant = self.settings.tenant
        self.user = current_user()
        self._insecure_storage = insecure_storage
        self._extra_connectors = extra_connectors

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings)

    @cached_property
    def registry(self) -> EntryPointRegistry:
        from cuervo_fabric.registry import EntryPointRegistry

        return EntryPointRegistry(self._extra_connectors)

    @cached_property
    def vault(self) -> LocalVault:
        from cuervo_fabric.vault.local import LocalVault

        return LocalVault(
            self.settings.paths.key_file,
            strict=self.settings.vault_strict,
            insecure_storage=self._insecure_storage,
        )

    @cached_property
    def credentials(self) -> CredentialService:
        from cuervo_fabric.services.credentials import CredentialService

        return CredentialService(self.store, self.vault)

    @cached_property
    def lifecycle(self) -> LifecycleService:
        from cuervo_fabric.services.lifecycle import LifecycleService

        return LifecycleService(self.store, self.registry, user=self.user, revoke=self._revoke)

    # ------------------------------------------------------------------ the gateway
    def pipeline_stages(self) -> list[Middleware]:
        """The pipeline's order, set here and nowhere else (the seed's steps 1-4; 5-8 are per request)."""
        from cuervo_fabric.gateway.pipeline import permission_stage

        return [permission_stage]

    def make_http_client(self, call: Call) -> Any:
        from cuervo_fabric.gateway.credentials import CredentialInjector
        from cuervo_fabric.gateway.http import GatewayHttpClient

        inst = call.instance
        injector = CredentialInjector(inst, lambda: self.credentials.load(inst))
        call.explain("credentials", using=inst.auth_type)
        return GatewayHttpClient(
            call,
            base_url=str(inst.settings.get("base_url") or ""),
            credentials=injector,
            transport=self.http_transport,
        )

    #: Tests and benchmarks may plug an httpx transport in; ``None`` is the real network.
    http_transport: Any = None

    @cached_property
    def gateway(self) -> Gateway:
        from cuervo_fabric.gateway.executor import Gateway
        from cuervo_fabric.gateway.pipeline import compose, endpoint

        pipeline = compose(self.pipeline_stages(), endpoint(self.make_http_client))
        return Gateway(
            tenant=self.tenant,
            user=self.user,
            resolve=lambda ref: self.lifecycle.resolve(self.tenant, ref),
            registry=self.registry,
            pipeline=pipeline,
        )

    def _revoke(self, instance: Any) -> None:
        """Forget the instance's credentials (provider-side revocation comes with OAuth)."""
        self.store.delete_credentials(instance.tenant_id, instance.id)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
