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
    """The ``ConnectorRegistry`` adapter over Python entry points (plus explicit extras)."""

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        self._classes: dict[str, Any] | None = None
        self._specs: dict[str, ConnectorSpec] = {}
        self._extra = dict(extra or {})
        self.problems: dict[str, str] = {}

    def _discover(self) -> dict[str, Any]:
        if self._classes is not None:
            return self._classes
        from importlib.metadata import entry_points

        classes: dict[str, Any] = {}
        for ep in entry_points(group=GROUP):
            try:
                cls = ep.load()
                spec = cls.spec()
            except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the CLI
                self.problems[ep.name] = f"{type(exc).__name__}: {exc}"
                continue
            if spec.id != ep.name:
                self.problems[ep.name] = f"entry point {ep.name!r} declares connector {spec.id!r}"
                continue
            dist = getattr(getattr(ep, "dist", None), "name", "")
            first = (dist or "").replace("_", "-").lower() == FIRST_PARTY_DIST
            spec = _with_first_party(spec, first)
            classes[spec.id] = cls
            self._specs[spec.id] = spec
        for cid, cls in self._extra.items():
            classes[cid] = cls
            self._specs[cid] = cls.spec()
        self._classes = classes
        return classes

    def specs(self) -> list[ConnectorSpec]:
        self._discover()
        return [self._specs[k] for k in sorted(self._specs)]

    def ids(self) -> list[str]:
        return sorted(self._discover())

    def get(self, connector_id: str, version: str | None = None) -> ConnectorSpec:
        classes = self._discover()
        if connector_id not in classes:
            known = ", ".join(sorted(classes)) or "none"
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
        assert self._classes is not None
        return self._classes[connector_id]


def _with_first_party(spec: ConnectorSpec, first: bool) -> ConnectorSpec:
    from dataclasses import replace

    return replace(spec, first_party=first)
