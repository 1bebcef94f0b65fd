"""Per-action declarations at work: cache_ttl (served from the store's cache) and rate-limit weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cuervo_fabric.sdk import BaseConnector, ConnectorCategory, ConnectorMetadata, action
from cuervo_fabric.testing import FabricHarness, LoopbackServer, Reply


class Catalog(BaseConnector):
    """A connector with a cached read and an uncached write."""

    id = "catalog-test"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="Catalog", description="test", category=ConnectorCategory.CUSTOM, vendor="tests"
    )
    config_schema = {
        "type": "object",
        "required": ["base_url"],
        "properties": {"base_url": {"type": "string"}},
    }
    auth_types = ("none",)

    @action("item.get", cache_ttl=300, params={"type": "object", "properties": {"id": {"type": "integer"}}})
    def get(self, params: dict[str, Any]) -> Any:
        """Read one item."""
        return self.http.get(f"/items/{params['id']}").json()

    @action("item.search", weight=5)
    def search(self, params: dict[str, Any]) -> Any:
        """A search: five tokens a call."""
        return self.http.get("/items").json()

    @action("item.touch", cache_ttl=300, mutating=True)
    def touch(self, params: dict[str, Any]) -> Any:
        """A write: never cached, whatever its cache_ttl."""
        return self.http.post("/touch").json()


def test_hit_miss_and_no_cache(tmp_path: Path) -> None:
    """Miss, then hit (no request, metadata.cached), other params miss, --no-cache refreshes."""
    with LoopbackServer() as api, FabricHarness(tmp_path / "fabric", connectors=[Catalog]) as fabric:
        api.route("GET", "/items/1", [Reply(200, {"id": 1, "v": "a"}), Reply(200, {"id": 1, "v": "b"})])
        api.route("GET", "/items/2", Reply(200, {"id": 2}))
        inst = fabric.install("catalog-test", {"base_url": api.url})

        first = fabric.exec(inst, "item.get", {"id": 1})
        assert (first.data, first.metadata.cached) == ({"id": 1, "v": "a"}, False)
        assert [s.get("result") for s in fabric.last_trace if s["stage"] == "cache"] == ["miss"]

        hit = fabric.exec(inst, "item.get", {"id": 1})
        assert (hit.data, hit.metadata.cached, hit.metadata.api_calls) == ({"id": 1, "v": "a"}, True, 0)
        assert [s.get("result") for s in fabric.last_trace if s["stage"] == "cache"] == ["hit"]
        assert len(api.calls("GET", "/items/1")) == 1

        assert fabric.exec(inst, "item.get", {"id": 2}).metadata.cached is False

        fresh = fabric.exec(inst, "item.get", {"id": 1}, no_cache=True)
        assert (fresh.data, fresh.metadata.cached) == ({"id": 1, "v": "b"}, False)
        assert len(api.calls("GET", "/items/1")) == 2
        # --no-cache stored the fresh answer for the next caller.
        assert fabric.exec(inst, "item.get", {"id": 1}).data == {"id": 1, "v": "b"}


def test_mutating_actions_are_never_cached(tmp_path: Path) -> None:
    """An action that changes provider state goes out every time."""
    with LoopbackServer() as api, FabricHarness(tmp_path / "fabric", connectors=[Catalog]) as fabric:
        api.route("POST", "/touch", Reply(200, {"touched": True}))
        inst = fabric.install("catalog-test", {"base_url": api.url})
        for _ in range(2):
            assert fabric.exec(inst, "item.touch").metadata.cached is False
        assert len(api.calls("POST", "/touch")) == 2


def test_a_weighted_action_takes_that_many_tokens(tmp_path: Path) -> None:
    """weight=5 costs five tokens; a call that no longer fits is refused, a lighter one still fits."""
    with LoopbackServer() as api, FabricHarness(tmp_path / "fabric", connectors=[Catalog]) as fabric:
        api.route("GET", "/items", Reply(200, []))
        api.route("GET", "/items/1", Reply(200, {"id": 1}))
        inst = fabric.install("catalog-test", {"base_url": api.url})
        fabric.fabric.lifecycle.update(fabric.tenant, inst.id, rate_limits={"requestsPerMinute": 7})
        assert fabric.exec(inst, "item.search").success
        (limit,) = [s for s in fabric.last_trace if s["stage"] == "ratelimit"]
        assert limit["weight"] == 5
        assert limit["connector/minute"] == "2/7"
        refused = fabric.exec(inst, "item.search")
        assert refused.error is not None
        assert refused.error["code"] == "RATE_LIMITED"
        assert fabric.exec(inst, "item.get", {"id": 1}).success
        assert len(api.calls("GET", "/items")) == 1


def test_background_writer_records_every_call(tmp_path: Path) -> None:
    """A long-running process's writer thread stores every call's audit row, the last ones at close."""
    with LoopbackServer() as api:
        api.route("GET", "/items/1", Reply(200, {"id": 1}))
        fabric = FabricHarness(tmp_path / "fabric", connectors=[Catalog])
        fabric.fabric.telemetry.max_batch = 8
        fabric.fabric.background_telemetry()
        inst = fabric.install("catalog-test", {"base_url": api.url})
        for _ in range(21):
            assert fabric.exec(inst, "item.get", {"id": 1}, no_cache=True).success
        fabric.close()
        again = FabricHarness(tmp_path / "fabric", connectors=[Catalog])
        rows = again.fabric.gateway_admin.audit(again.tenant, limit=100)
        again.close()
    assert len(rows) == 21
    assert {r["action"] for r in rows} == {"item.get"}
