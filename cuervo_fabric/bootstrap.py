"""The composition root: the only module that picks adapters.

``Fabric`` builds each part on first use, so a command pays only for what it touches (``connector
list`` never imports the crypto or HTTP stacks).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cuervo_fabric.config import Settings, load_settings
from cuervo_fabric.errors import InvalidInputError

if TYPE_CHECKING:
    from cuervo_fabric.auth.login import LoginFlows
    from cuervo_fabric.domain.models import ConnectorInstance
    from cuervo_fabric.events.bus import EventBus
    from cuervo_fabric.gateway.credentials import CredentialInjector
    from cuervo_fabric.gateway.executor import Gateway
    from cuervo_fabric.gateway.http import HttpClientPool
    from cuervo_fabric.gateway.observe import Telemetry
    from cuervo_fabric.gateway.pipeline import Call, Middleware
    from cuervo_fabric.gateway.ratelimit import TokenReserve
    from cuervo_fabric.ports import EventWebhookStore, GatewayState, Store, WebhookStore
    from cuervo_fabric.registry import EntryPointRegistry
    from cuervo_fabric.services.credentials import CredentialService
    from cuervo_fabric.services.events import EventService
    from cuervo_fabric.services.gateway import GatewayAdmin
    from cuervo_fabric.services.lifecycle import LifecycleService
    from cuervo_fabric.services.webhooks import WebhookInbox, WebhookService
    from cuervo_fabric.vault.local import LocalVault
    from cuervo_fabric.webhooks.outbound import WebhookDispatcher
    from cuervo_fabric.webhooks.ssrf import TargetGuard

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


def _keyring_user(settings: Settings) -> str:
    """The keyring entry of this fabric's master key: one per ``CUERVO_FABRIC_HOME``."""
    if os.environ.get("CUERVO_FABRIC_HOME"):
        return f"master-key@{settings.paths.data_dir}"
    return "master-key"


def _gateway_state(store: Any) -> GatewayState:
    if store.backend == "postgres":
        from cuervo_fabric.store.postgres_gateway import PostgresGatewayState

        return PostgresGatewayState(store)
    from cuervo_fabric.store.sqlite_gateway import SqliteGatewayState

    return SqliteGatewayState(store)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
        return os.environ.get("USER", "local")


class _VaultCredentials:
    """The ``CredentialSource`` of the gateway: the credential service and the renewers."""

    def __init__(self, fabric: Fabric) -> None:
        from cuervo_fabric.auth import renew

        self._fabric = fabric
        self._renew = renew

    def refreshable(self, instance: ConnectorInstance) -> bool:
        return instance.auth_type in self._renew.REFRESHABLE_AUTH_TYPES

    def load(self, instance: ConnectorInstance, call: Call | None, version: bytes | None) -> dict[str, Any]:
        renew = self._renew
        renewer = renew.renew if instance.auth_type in renew.REFRESHABLE_AUTH_TYPES else None
        secret, refreshed = self._fabric.credentials.fresh(instance, renewer, version=version)
        if refreshed and call is not None:
            call.explain("credentials", refreshed=True, reason="expiry")
        return secret

    def refresh(self, instance: ConnectorInstance, call: Call | None, rejected: dict[str, Any]) -> bool:
        if not self._renew.can_refresh(instance, rejected):
            return False
        _, refreshed = self._fabric.credentials.refresh(instance, self._renew.renew, rejected=rejected)
        if call is not None:
            call.explain("credentials", refreshed=refreshed, reason="401", byOtherProcess=not refreshed)
        return True  # a newer credential is stored, by this process or another one


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
            keyring_user=_keyring_user(self.settings),
            in_use=self._key_ids_in_use,
            warn=self.warn,
        )

    @cached_property
    def credentials(self) -> CredentialService:
        from cuervo_fabric.services.credentials import CredentialService

        return CredentialService(
            self.store,
            self.vault,
            on_refresh_failed=self._refresh_failed,
            on_refreshed=self._refreshed,
        )

    @cached_property
    def login_flows(self) -> LoginFlows:
        from cuervo_fabric.auth.login import LoginFlows

        return LoginFlows(notify=self.warn)

    def warn(self, message: str) -> None:
        """Diagnostics for people (stderr); never carries a secret."""
        sys.stderr.write(message + "\n")

    @cached_property
    def lifecycle(self) -> LifecycleService:
        from cuervo_fabric.services.lifecycle import LifecycleService

        return LifecycleService(self.store, self.registry, user=self.user, revoke=self._revoke)

    # ------------------------------------------------------------------ the gateway
    @cached_property
    def gateway_state(self) -> GatewayState:
        """Breaker, rate limits, cache, metrics and audit: shared by every process via the store."""
        return _gateway_state(self.store)

    @cached_property
    def gateway_admin(self) -> GatewayAdmin:
        from cuervo_fabric.services.gateway import GatewayAdmin

        return GatewayAdmin(self.gateway_state, self.registry)

    @cached_property
    def telemetry(self) -> Telemetry:
        from cuervo_fabric.gateway.observe import Telemetry

        return Telemetry(self.gateway_state)

    def background_telemetry(self) -> None:
        """For long-running processes (server, benchmarks): metrics and audit rows are written by
        a thread on its own store connection, so no call waits for them."""

        writer: list[Any] = []

        def open_state() -> tuple[GatewayState, Any]:
            store = open_store(self.settings)
            writer.append(store)
            return _gateway_state(store), store.close

        after_batch = None
        if self.store.backend == "sqlite":
            # WAL checkpoints (an fsync) move from the calls' commits to the writer thread.
            self.store.conn.execute("PRAGMA wal_autocheckpoint = 0")  # type: ignore[attr-defined]

            def after_batch() -> None:
                writer[0].conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

        self.telemetry.start_background(open_state, after_batch)

    @cached_property
    def http_pool(self) -> HttpClientPool:
        """HTTP clients reused by every call of this process (one per base URL)."""
        from cuervo_fabric.gateway.http import HttpClientPool

        return HttpClientPool()

    def pipeline_stages(self) -> list[Middleware]:
        """The pipeline's order, set here and nowhere else (the seed's steps 1-4; 5-8 are per request).

        observe (outermost: it records every outcome) -> permission -> cache (a hit sends nothing,
        so it needs no breaker and spends no token) -> circuit breaker -> rate limit -> endpoint.
        """
        from cuervo_fabric.gateway.cache import cache_stage
        from cuervo_fabric.gateway.circuit import circuit_stage
        from cuervo_fabric.gateway.observe import observe_stage
        from cuervo_fabric.gateway.pipeline import permission_stage
        from cuervo_fabric.gateway.ratelimit import ratelimit_stage

        state = self.gateway_state
        return [
            observe_stage(self.telemetry.record),
            permission_stage,
            cache_stage(state),
            circuit_stage(state),
            ratelimit_stage(state, reserve=self.token_reserve),
        ]

    @cached_property
    def token_reserve(self) -> TokenReserve:
        """Rate-limit tokens this process takes ahead in small batches (given back on close)."""
        from cuervo_fabric.gateway.ratelimit import TokenReserve

        return TokenReserve(self.gateway_state)

    def make_http_client(self, call: Call) -> Any:
        GatewayHttpClient = self._http_client_class

        inst = call.instance
        injector = self.credential_injector(inst, call)
        if call.trace is not None:
            call.explain("credentials", using=inst.auth_type)
        transport = self.http_transport
        if transport is None and inst.auth_type == "mtls":
            from cuervo_fabric.auth.mtls import MtlsTransport

            transport = MtlsTransport(injector.secret)
        base_url = str(inst.settings.get("base_url") or "")
        shared = transport is None or transport is self.http_transport
        return GatewayHttpClient(
            call,
            base_url=base_url,
            credentials=injector,
            transport=transport,
            refresh=injector.refresh_rejected if injector.can_refresh else None,
            response_hooks=self._response_hooks,
            client=self.http_pool.client(base_url, transport=transport) if shared else None,
        )

    def make_cache(self, call: Call) -> Any:
        """``ConnectorContext.cache`` for one call: the instance's entries in the gateway cache
        (one small stateless object per instance, kept for the process)."""
        key = (call.instance.tenant_id, call.instance.id)
        cache = self._kv_caches.get(key)
        if cache is None:
            from cuervo_fabric.gateway.cache import InstanceKeyValueCache

            cache = self._kv_caches[key] = InstanceKeyValueCache(self.gateway_state, *key)
        return cache

    @cached_property
    def _kv_caches(self) -> dict[tuple[str, str], Any]:
        return {}

    @cached_property
    def _http_client_class(self) -> Any:
        from cuervo_fabric.gateway.http import GatewayHttpClient

        return GatewayHttpClient

    @cached_property
    def _response_hooks(self) -> tuple[Any, ...]:
        return (self._limits_hook,)

    @cached_property
    def _limits_hook(self) -> Any:
        from cuervo_fabric.gateway.ratelimit_headers import provider_limits_hook

        return provider_limits_hook(self.gateway_state, time.time)

    def credential_injector(self, inst: ConnectorInstance, call: Call | None = None) -> CredentialInjector:
        """Stage 5 for one call: the vault's secret, refreshed before expiry and once after a 401."""
        view = call.view if call is not None else None
        return self._injector_class(
            inst,
            self._credential_source,
            call=call,
            version=view.credential_version if view is not None else None,
        )

    @cached_property
    def _injector_class(self) -> type[CredentialInjector]:
        from cuervo_fabric.gateway.credentials import CredentialInjector

        return CredentialInjector

    @cached_property
    def _credential_source(self) -> _VaultCredentials:
        return _VaultCredentials(self)

    #: Tests and benchmarks may plug an httpx transport in; ``None`` is the real network.
    http_transport: Any = None

    @cached_property
    def gateway(self) -> Gateway:
        from cuervo_fabric.gateway.executor import Gateway
        from cuervo_fabric.gateway.pipeline import compose, endpoint

        pipeline = compose(self.pipeline_stages(), endpoint(self.make_http_client, self.make_cache))
        return Gateway(
            tenant=self.tenant,
            user=self.user,
            resolve=lambda ref: self.lifecycle.resolve(self.tenant, ref),
            registry=self.registry,
            pipeline=pipeline,
            state=self.gateway_state,
            on_close=self.token_reserve.release_all,
        )

    def revoke_credentials(self, instance: ConnectorInstance) -> dict[str, Any]:
        """Revoke at the provider where it supports it (RFC 7009), then delete, whatever happened.

        A provider that cannot be reached does not keep the credential here: it is deleted and the
        failure reported, so the user can revoke it at the provider by hand.
        """
        from cuervo_fabric.auth.renew import revoke
        from cuervo_fabric.errors import AuthRequiredError, FabricError

        revoked: list[str] = []
        problem: str | None = None
        try:
            revoked = revoke(instance, self.credentials.load(instance))
        except AuthRequiredError:
            pass  # nothing stored
        except FabricError as exc:
            problem = exc.message
        deleted = self.credentials.delete(instance)
        return {"revoked": revoked, "revocationError": problem, "deleted": deleted}

    def _revoke(self, instance: Any) -> None:
        """``connector uninstall``: the connector's own clean-up (while its credential works), then
        deregister its webhook endpoint, revoke at the provider, and delete."""
        self._connector_uninstall_hook(instance)
        if self.sealed_store() is not None:
            self.webhooks.remove_endpoint(instance)
        outcome = self.revoke_credentials(instance)
        if outcome["revocationError"]:
            self.warn(
                f"warning: could not revoke the credential of {instance.name} at the provider "
                f"({outcome['revocationError']}); it was deleted here, revoke it there by hand"
            )

    def _connector_uninstall_hook(self, instance: ConnectorInstance) -> None:
        """Run ``on_uninstall`` through the gateway (e.g. remove provider webhooks); warn on failure."""
        from cuervo_fabric.sdk import BaseConnector

        try:
            cls = self.registry.load(instance.connector_id)
        except Exception:  # noqa: BLE001 - a connector that is gone has nothing to clean up
            return
        if getattr(cls, "on_uninstall", None) is BaseConnector.on_uninstall:
            return  # the connector has no clean-up of its own
        try:
            call = self.gateway.new_call(instance.id, "uninstall.hook")
        except Exception as exc:  # noqa: BLE001 - a missing connector must not block uninstall
            self.warn(f"warning: skipped {instance.name}'s uninstall hook: {exc}")
            return
        call.instance = instance  # already `uninstalling`: resolve would still find it
        call.uninstall = True
        result = self.gateway.run(call)
        if not result.success:
            message = (result.error or {}).get("message")
            self.warn(f"warning: {instance.name}'s uninstall hook failed ({message}); continuing")

    def _refresh_failed(self, instance: ConnectorInstance, reason: str) -> None:
        """A provider refused a refresh: the instance goes to ``error`` with the reason."""
        from cuervo_fabric.domain import lifecycle
        from cuervo_fabric.domain.models import InstanceStatus
        from cuervo_fabric.domain.timeutil import now_iso
        from cuervo_fabric.errors import InvalidStateError

        current = self.store.get_instance(instance.tenant_id, instance.id)
        if current is None:
            return
        if lifecycle.can_transition(current.status, InstanceStatus.ERROR):
            with contextlib.suppress(InvalidStateError):  # moved meanwhile: its new state wins
                self.lifecycle.transition(current, InstanceStatus.ERROR, reason=reason)
        elif current.status is InstanceStatus.ERROR:
            now = now_iso()
            self.store.update_instance(
                current.tenant_id,
                current.id,
                {"status_reason": reason, "last_error": reason, "last_error_at": now, "updated_at": now},
                expected_status=InstanceStatus.ERROR,
            )

    def _refreshed(self, instance: ConnectorInstance) -> None:
        """A refresh worked: an instance in ``error`` because of a failed refresh recovers."""
        from cuervo_fabric.domain.models import InstanceStatus
        from cuervo_fabric.errors import InvalidStateError

        current = self.store.get_instance(instance.tenant_id, instance.id)
        if (
            current is not None
            and current.status is InstanceStatus.ERROR
            and (current.status_reason or "").startswith("credential refresh failed")
        ):
            with contextlib.suppress(InvalidStateError):
                self.lifecycle.transition(current, InstanceStatus.ACTIVE)

    def sealed_store(self) -> WebhookStore | None:
        """Where sealed webhook secrets live (re-wrapped by key rotation): the event store's tables."""
        from cuervo_fabric.store.postgres import PostgresStore
        from cuervo_fabric.store.sqlite import SqliteStore

        return self.event_store if isinstance(self.store, SqliteStore | PostgresStore) else None

    def _key_ids_in_use(self) -> set[str]:
        ids = {r.encryption_key_id for r in self.store.iter_all_credentials()}
        sealed = self.sealed_store()
        if sealed is not None:
            ids |= {r.encryption_key_id for r in sealed.iter_sealed()}
        return ids

    # ------------------------------------------------------------------ events and webhooks
    @cached_property
    def event_store(self) -> EventWebhookStore:
        """The event log and webhook tables (both ``EventStore`` and ``WebhookStore``), on the
        store's own connection, so an event commits with the change that caused it."""
        from cuervo_fabric.store.postgres import PostgresStore
        from cuervo_fabric.store.sqlite import SqliteStore

        if isinstance(self.store, PostgresStore):
            from cuervo_fabric.store.postgres_events import PostgresEventStore

            return PostgresEventStore(self.store)
        if not isinstance(self.store, SqliteStore):
            raise InvalidInputError(
                f"the event bus and webhooks do not run on the {type(self.store).__name__} store",
                details={"field": "profile"},
            )
        from cuervo_fabric.store.sqlite_events import SqliteEventStore

        return SqliteEventStore(self.store)

    @cached_property
    def events(self) -> EventService:
        from cuervo_fabric.services.events import EventService

        return EventService(self.event_store)

    @cached_property
    def event_bus(self) -> EventBus:
        from cuervo_fabric.events.bus import EventBus

        return EventBus(self.event_store, tenant_id=self.tenant)

    @cached_property
    def target_guard(self) -> TargetGuard:
        from cuervo_fabric.webhooks.ssrf import TargetGuard

        return TargetGuard(allow_private=self.settings.allow_private_webhook_targets)

    @cached_property
    def webhooks(self) -> WebhookService:
        from cuervo_fabric.services.webhooks import WebhookService

        return WebhookService(
            self.event_store,
            self.event_store,
            self.registry,
            self.vault,
            user=self.user,
            check_target=self.target_guard.check,
        )

    def webhook_dispatcher(self, **options: Any) -> WebhookDispatcher:
        """A delivery worker for outgoing webhooks (close it when done)."""
        from cuervo_fabric import __version__
        from cuervo_fabric.webhooks.outbound import WebhookDispatcher

        options.setdefault("transport", self.http_transport)
        return WebhookDispatcher(
            self.event_store,
            self.webhooks.open_secrets,
            self.target_guard,
            user_agent=f"cuervo-fabric/{__version__} (webhooks)",
            **options,
        )

    def webhook_inbox(self) -> WebhookInbox:
        """The receiver's verify-and-store use case on a connection of its own (its writer thread).

        Its commits use ``synchronous = FULL``: an event answered 2xx survives a power cut.
        """
        from cuervo_fabric.services.webhooks import WebhookInbox
        from cuervo_fabric.store.postgres import PostgresStore
        from cuervo_fabric.store.sqlite import SqliteStore

        store = open_store(self.settings)
        events: EventWebhookStore
        if isinstance(store, PostgresStore):
            from cuervo_fabric.store.postgres_events import PostgresEventStore

            events = PostgresEventStore(store)  # a commit is durable there already
        elif isinstance(store, SqliteStore):
            from cuervo_fabric.store.sqlite_events import SqliteEventStore

            events = SqliteEventStore(store, synchronous="FULL")
        else:
            store.close()
            raise InvalidInputError(f"the webhook receiver does not run on the {type(store).__name__} store")
        return WebhookInbox(events, events, store, self.registry, self.vault, close=store.close)

    def webhook_base_url(self, explicit: str | None = None) -> str:
        """Where providers reach ``serve``: ``--base-url``, ``CUERVO_FABRIC_PUBLIC_URL``,
        ``webhooks.public_url`` in the config, else ``http://127.0.0.1:8080``."""
        value = (
            explicit
            or os.environ.get("CUERVO_FABRIC_PUBLIC_URL")
            or self.settings.raw.get("webhooks", {}).get("public_url")
            or "http://127.0.0.1:8080"
        )
        return str(value).rstrip("/")

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give back rate-limit tokens taken ahead, write pending metrics and audit rows, close
        HTTP clients and the store. ``with Fabric() as fabric:`` does it on exit."""
        if "gateway" in self.__dict__:
            try:
                self.gateway.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail the command
                self.warn(f"warning: could not give back reserved rate-limit tokens: {exc}")
        if "telemetry" in self.__dict__:
            self.telemetry.close()
        if "http_pool" in self.__dict__:
            self.http_pool.close()
        if "store" in self.__dict__:
            self.store.close()
