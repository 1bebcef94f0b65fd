"""BaseConnector's template and final methods, @action, pydantic params and typed errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from cuervo_fabric.sdk import (
    ActionDeclaration,
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    Permission,
    action,
    error_for_status,
)
from cuervo_fabric.testing import FabricHarness, MockProvider, Reply

META = ConnectorMetadata(
    name="Shop", description="A shop API", category=ConnectorCategory.CUSTOM, vendor="Shop"
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["base_url"],
    "properties": {"base_url": {"type": "string", "description": "API root"}},
}


class Order(BaseModel):
    """An order as the shop returns it."""

    id: int
    total_cents: int = Field(alias="totalCents")


class OrderQuery(BaseModel):
    """Parameters of order.get."""

    id: int = Field(ge=1)


class ShopConnector(BaseConnector):
    """A connector with every kind of action declaration."""

    id = "shop"
    version = "1.0.0"
    metadata = META
    config_schema = SCHEMA
    required_permissions = (Permission("network.outbound", "Call the shop", True, "orders"),)

    @classmethod
    def actions(cls) -> list[ActionDeclaration]:
        return [
            ActionDeclaration(f"{kind}.count", handler=cls.count, description=f"Count {kind}s")
            for kind in ("order", "customer")
        ]

    def count(self, params: dict[str, Any]) -> int:
        return len(self.http.get("/things").json())

    @action("order.get", params=OrderQuery, cache_ttl=30)
    def order_get(self, params: OrderQuery) -> Order:
        """Read one order (a pydantic model in, a pydantic model out)."""
        return Order.model_validate(self.http.get(f"/orders/{params.id}").json())


def test_final_methods_cannot_be_overridden() -> None:
    """Redefining a final method (run_action, spec, health_check, __init__) is refused at class creation."""
    for name in ("run_action", "spec", "health_check", "__init__", "declarations", "stream_action"):
        with pytest.raises(TypeError, match="final"):
            type("Bad", (BaseConnector,), {name: lambda self, *a: None})


def test_an_action_id_declared_twice_is_refused() -> None:
    """Two methods declaring the same action id is a class-definition error, not a silent override."""
    with pytest.raises(TypeError, match="declared twice"):

        class Twice(BaseConnector):
            @action("x.get")
            def one(self, params: dict[str, Any]) -> None: ...

            @action("x.get")
            def two(self, params: dict[str, Any]) -> None: ...


def test_bad_declarations_fail_early() -> None:
    """An id with spaces, a weight below 1 or a negative cache TTL is rejected when declared."""
    with pytest.raises(ValueError, match="invalid action id"):
        action("has space")
    with pytest.raises(ValueError, match="weight"):
        action("x.y", weight=0)
    with pytest.raises(ValueError, match="cache_ttl"):
        ActionDeclaration("x.y", cache_ttl=-1)


def test_actions_template_method_adds_generated_actions() -> None:
    """Actions returned by actions() sit beside @action methods in the spec, with their handler."""
    spec = ShopConnector.spec()
    assert {c.id for c in spec.capabilities} == {"order.count", "customer.count", "order.get"}
    assert spec.capability("order.count").description == "Count orders"  # type: ignore[union-attr]
    schema = spec.capability("order.get").params_schema  # type: ignore[union-attr]
    assert schema is not None
    assert schema["required"] == ["id"]


def test_pydantic_params_and_results_through_the_pipeline(tmp_path: Path) -> None:
    """A pydantic params model validates (INVALID_INPUT on error) and a returned model becomes JSON data."""
    with MockProvider() as api, FabricHarness(tmp_path, connectors=[ShopConnector]) as fabric:
        api.expect("GET", "/orders/7", Reply(200, {"id": 7, "totalCents": 1250}))
        api.expect("GET", "/things", Reply(200, [1, 2, 3]))
        inst = fabric.install("shop", {"base_url": api.url})
        ok = fabric.exec(inst, "order.get", {"id": 7})
        assert ok.success, ok.error
        assert ok.data == {"id": 7, "totalCents": 1250}
        bad = fabric.exec(inst, "order.get", {"id": 0})
        assert bad.error is not None
        assert bad.error["code"] == "INVALID_INPUT"
        assert bad.error["field"] == "id"
        counted = fabric.exec(inst, "customer.count")
        assert counted.success
        assert counted.data == 3


def test_unknown_action_lists_the_known_ones() -> None:
    """run_action on an undeclared id raises UNKNOWN_ACTION naming the real actions."""
    from cuervo_fabric.sdk import ConnectorContext, UnknownActionError

    conn = ShopConnector(ConnectorContext("t", "i", {}, http=None))  # type: ignore[arg-type]
    with pytest.raises(UnknownActionError, match=r"order\.get"):
        conn.run_action("nope", {})


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (401, "AUTH_FAILED", False),
        (403, "PERMISSION_DENIED", False),
        (404, "NOT_FOUND", False),
        (408, "TIMEOUT", True),
        (429, "RATE_LIMITED", True),
        (500, "UPSTREAM_ERROR", True),
        (503, "UPSTREAM_ERROR", True),
        (400, "UPSTREAM_ERROR", False),
    ],
)
def test_error_for_status_maps_onto_the_stable_codes(status: int, code: str, retryable: bool) -> None:
    """error_for_status maps an HTTP status the way the gateway maps provider responses."""
    err = error_for_status(status, "provider said no", retry_after_s=2)
    assert (err.code, err.retryable) == (code, retryable)
    assert err.to_dict()["status"] == status
