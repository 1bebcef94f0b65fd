"""``FabricHarness``: run a connector in-process through the real fabric, in a throwaway home.

Nothing is faked: the harness builds the same ``bootstrap.Fabric`` the CLI builds (SQLite store,
encrypted vault, registry, the whole gateway pipeline) over a temporary folder, so a test sees
exactly what ``cuervo-fabric exec`` would do, minus the process start.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cuervo_fabric.bootstrap import Fabric
    from cuervo_fabric.domain.models import ConnectorInstance, ConnectorResult

__all__ = ["FabricHarness"]

Credential = Mapping[str, Any] | str | None


def _secret_payload(auth_type: str, credential: Credential) -> dict[str, Any] | None:
    """A credential as the vault stores it for ``auth_type`` (a string is the token or key)."""
    if auth_type == "none" or credential is None:
        return None
    if not isinstance(credential, str):
        return dict(credential)
    if auth_type in ("bearer_token", "oauth2", "service_account"):
        return {"access_token": credential}
    if auth_type == "api_key":
        return {"key": credential}
    if auth_type == "basic_auth":
        user, _, password = credential.partition(":")
        return {"username": user, "password": password}
    return {"token": credential}


class FabricHarness:
    r"""A real fabric in a temporary home, for running connectors in tests.

    Args:
        home: a folder of its own (pytest's ``tmp_path``); the store and vault key live there.
        connectors: connector classes to register besides the installed entry points (a connector
            under test need not be pip-installed).
        tenant: the tenant every call runs in.
        no_sleep: skip the gateway's retry waits (they are still computed and traced).

    Example:
        >>> from cuervo_fabric.testing import FabricHarness, MockProvider, Reply
        >>> with FabricHarness(tmp_path, connectors=[AcmeConnector]) as fabric, \\
        ...         MockProvider() as api:  # doctest: +SKIP
        ...     api.expect("GET", "/widgets", Reply(200, [{"id": 1}]))
        ...     inst = fabric.install("acme", {"base_url": api.url}, credential="k-123")
        ...     result = fabric.exec(inst, "widget.list")
        ...     assert result.success and result.data == [{"id": 1}]
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        connectors: Mapping[str, type] | Iterable[type] | None = None,
        tenant: str = "default",
        no_sleep: bool = True,
    ) -> None:
        from cuervo_fabric.bootstrap import Fabric
        from cuervo_fabric.config import Paths, Profile, Settings

        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        key_file = self.home / "master.key"
        if not key_file.exists():
            # The vault's real key-file path; no OS keyring is touched by a test.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
        if isinstance(connectors, Mapping):
            extra = dict(connectors)
        else:
            extra = {str(getattr(cls, "id", cls.__name__)): cls for cls in connectors or ()}
        settings = Settings(
            paths=Paths(config_file=self.home / "config.toml", data_dir=self.home),
            raw={},
            profile=Profile(name="local", tenant=tenant),
            tenant=tenant,
        )
        self.fabric: Fabric = Fabric(settings, insecure_storage=True, extra_connectors=extra)
        self.tenant = tenant
        self._no_sleep = no_sleep
        self._previous_sleep: bool | None = None

    # ------------------------------------------------------------------ lifecycle
    def install(
        self,
        connector_id: str,
        settings: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        credential: Credential = None,
        activate: bool = True,
    ) -> ConnectorInstance:
        """Install an instance (settings validated as ``connector install`` does) and log it in.

        Args:
            connector_id: the registry id.
            settings: the instance settings (defaults from the config schema are applied).
            name: the instance name (default: the connector id).
            credential: the secret: a token or key string, or the full credential mapping
                (``{"username": ..., "password": ...}``); ignored for auth type ``none``.
            activate: log in right away, leaving the instance ``active``.

        Returns:
            The instance.

        Example:
            >>> inst = fabric.install("http", {"base_url": api.url})  # doctest: +SKIP
        """
        inst = self.fabric.lifecycle.install(self.tenant, connector_id, dict(settings or {}), name=name)
        if activate:
            inst = self.login(inst, credential)
        return inst

    def login(self, instance: ConnectorInstance | str, credential: Credential = None) -> ConnectorInstance:
        """Store ``credential`` (sealed by the vault) and make the instance ``active``.

        Example:
            >>> fabric.login(inst, "new-token")  # doctest: +SKIP
        """
        inst = self.instance(instance)
        payload = _secret_payload(inst.auth_type, credential)
        if payload is None and inst.auth_type != "none":
            payload = _secret_payload(inst.auth_type, "test-credential")
        inst = self.fabric.lifecycle.begin_auth(inst)
        if payload is not None:
            self.fabric.credentials.save(inst, payload)
        return self.fabric.lifecycle.finish_auth(inst, ok=True)

    def instance(self, ref: ConnectorInstance | str) -> ConnectorInstance:
        """The current state of an instance (by object, id or name).

        Example:
            >>> fabric.instance("acme").status.value  # doctest: +SKIP
            'active'
        """
        key = ref if isinstance(ref, str) else ref.id
        return self.fabric.lifecycle.resolve(self.tenant, key)

    # ------------------------------------------------------------------ calls
    def exec(
        self,
        instance: ConnectorInstance | str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = 30.0,
        idempotency_key: str | None = None,
        no_cache: bool = False,
    ) -> ConnectorResult:
        """Run an action through the whole gateway pipeline, like ``cuervo-fabric exec``.

        Returns:
            The ConnectorResult (``success``, ``data``, ``error`` with its stable code, ``metadata``).

        Example:
            >>> result = fabric.exec(inst, "widget.list", {"limit": 5})  # doctest: +SKIP
            >>> result.error["code"] if not result.success else result.data  # doctest: +SKIP
        """
        with self._sleep_switch():
            gateway = self.fabric.gateway
            call = gateway.new_call(
                self._ref(instance),
                action,
                dict(params or {}),
                timeout_ms=int(timeout_s * 1000),
                idempotency_key=idempotency_key,
                no_cache=no_cache,
                explain=True,
            )
            self.last_trace = call.trace if call.trace is not None else []
            return gateway.run(call)

    def stream(
        self,
        instance: ConnectorInstance | str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Run a streaming action and return its ConnectorEvents (or raise its error).

        Example:
            >>> [e["type"] for e in fabric.stream(inst, "chat", {"prompt": "hi"})]  # doctest: +SKIP
            ['delta', 'delta', 'complete']
        """
        events: list[dict[str, Any]] = []
        with self._sleep_switch():
            gateway = self.fabric.gateway
            call = gateway.new_call(
                self._ref(instance), action, dict(params or {}), timeout_ms=int(timeout_s * 1000)
            )
            call.streaming = True
            call.on_event = events.append
            result = gateway.run(call)
        if not result.success:
            from cuervo_fabric.errors import error_for_code

            err = dict(result.error or {})
            raise error_for_code(str(err.get("code")), str(err.get("message")))
        return events

    def health(self, instance: ConnectorInstance | str) -> ConnectorResult:
        """Run the connector's health check through the pipeline, like ``cuervo-fabric health``.

        Returns:
            A ConnectorResult whose ``data`` is the HealthCheckResult as a dict.

        Example:
            >>> fabric.health(inst).data["status"]  # doctest: +SKIP
            'healthy'
        """
        with self._sleep_switch():
            gateway = self.fabric.gateway
            call = gateway.new_call(self._ref(instance), "health.check", explain=True)
            call.health = True
            self.last_trace = call.trace if call.trace is not None else []
            return gateway.run(call)

    #: The ``--explain`` trace of the last ``exec`` or ``health`` call.
    last_trace: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ plumbing
    def _ref(self, instance: ConnectorInstance | str) -> str:
        return instance if isinstance(instance, str) else instance.id

    def _sleep_switch(self) -> Any:
        from contextlib import contextmanager

        from cuervo_fabric.gateway import retry

        @contextmanager
        def switch() -> Any:
            if not self._no_sleep:
                yield
                return
            before = bool(getattr(retry, "_testing", False))
            retry.set_testing(True)
            try:
                yield
            finally:
                retry.set_testing(before)

        return switch()

    def close(self) -> None:
        """Close the store (the harness's folder is left for the test framework to remove)."""
        self.fabric.close()

    def __enter__(self) -> FabricHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
