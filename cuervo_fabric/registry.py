"""``EntryPointRegistry``: connectors discovered through the ``cuervo_fabric.connectors`` group.

First-party and third-party connectors plug in the same way: a package declares

    [project.entry-points."cuervo_fabric.connectors"]
    acme = "acme_connector.connector:AcmeConnector"

A connector that fails to load is reported (``problems``) and skipped, never fatal.
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.domain.models import ConnectorSpec
from cuervo_fabric.errors import InvalidInputError, NotFoundError

__all__ = ["GROUP", "EntryPointRegistry"]

GROUP = "cuervo_fabric.connectors"
FIRST_PARTY_DIST = "cuervo-fabric"


class EntryPointRegistry:
    """The ``ConnectorRegistry`` adapter over Python entry points (plus explicit extras).

    ``get``/``load`` import only the connector asked for (``exec`` runs in loops in scripts);
    ``specs``/``ids`` import them all.
    """

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        self._eps: dict[str, Any] | None = None
        self._classes: dict[str, Any] = {}
        self._specs: dict[str, ConnectorSpec] = {}
        self._extra = dict(extra or {})
        self.problems: dict[str, str] = {}

    def _entry_points(self) -> dict[str, Any]:
        if self._eps is None:
            from importlib.metadata import entry_points

            self._eps = {ep.name: ep for ep in entry_points(group=GROUP)}
        return self._eps

    def _load_one(self, name: str) -> bool:
        """Import connector ``name`` (once); ``False`` when it is absent or broken."""
        if name in self._classes:
            return True
        if name in self.problems:
            return False
        if name in self._extra:
            cls = self._extra[name]
            self._classes[name], self._specs[name] = cls, cls.spec()
            return True
        ep = self._entry_points().get(name)
        if ep is None:
            return False
        try:
            cls = ep.load()
            spec = cls.spec()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the CLI
            self.problems[name] = f"{type(exc).__name__}: {exc}"
            return False
        if spec.id != name:
            self.problems[name] = f"entry point {name!r} declares connector {spec.id!r}"
            return False
        dist = getattr(getattr(ep, "dist", None), "name", "")
        first = (dist or "").replace("_", "-").lower() == FIRST_PARTY_DIST
        self._classes[name], self._specs[name] = cls, _with_first_party(spec, first)
        return True

    def _discover(self) -> dict[str, Any]:
        for name in sorted({*self._entry_points(), *self._extra}):
            self._load_one(name)
        return self._classes

    def specs(self) -> list[ConnectorSpec]:
        self._discover()
        return [self._specs[k] for k in sorted(self._specs)]

    def ids(self) -> list[str]:
        return sorted(self._discover())

    def get(self, connector_id: str, version: str | None = None) -> ConnectorSpec:
        if not self._load_one(connector_id):
            known = ", ".join(sorted(self._discover())) or "none"
            hint = f" ({self.problems[connector_id]})" if connector_id in self.problems else ""
            raise NotFoundError(
                f"no connector {connector_id!r} in the registry{hint} (available: {known})",
                details={"connectorId": connector_id},
            )
        spec = self._specs[connector_id]
        if version is not None and version != spec.version and version not in spec.versions:
            versions = ", ".join(sorted({spec.version, *spec.versions}))
            raise InvalidInputError(
                f"connector {connector_id!r} has no version {version!r} (registered: {versions})",
                details={"field": "version"},
            )
        return spec

    def load(self, connector_id: str) -> Any:
        self.get(connector_id)
        return self._classes[connector_id]


def _with_first_party(spec: ConnectorSpec, first: bool) -> ConnectorSpec:
    from dataclasses import replace

    return replace(spec, first_party=first)
