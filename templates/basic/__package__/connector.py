"""The {{ display_name }} connector: {{ description }}.

Written only against ``cuervo_fabric.sdk``. Every request goes through the fabric's gateway, which
adds the API key, retries what is safe to retry, honours rate limits and maps provider errors onto
the stable error codes, so the handlers below only say what to call and what to return.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cuervo_fabric.sdk import (
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    Permission,
    RateLimits,
    action,
    paginate_link_header,
)
from pydantic import BaseModel, Field

__all__ = ["{{ class_name }}"]

ITEM_LIST_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "default": 100,
            "description": "Return at most this many items",
        },
    },
}

ITEM_CREATE_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "The new item's name"},
        "notes": {"type": "string", "description": "Free text"},
    },
}


class ItemRef(BaseModel):
    """Parameters of ``item.get``: a pydantic model works as well as a JSON Schema."""

    id: str = Field(min_length=1, description="The item's id")


class {{ class_name }}(BaseConnector):
    """{{ description }}."""

    id = "{{ connector_id }}"
    version = "0.1.0"
    metadata = ConnectorMetadata(
        name="{{ display_name }}",
        description="{{ description }}",
        category=ConnectorCategory.{{ category }},
        vendor="{{ vendor }}",
        documentation_url="https://example.com/docs/api",
        tags=("{{ category_value }}",),
    )
    required_permissions = (
        Permission(
            scope="network.outbound",
            description="Call the {{ display_name }} API at the configured base_url",
            required=True,
            justification="Every action is a request to the {{ display_name }} API",
        ),
    )
    auth_types = ("api_key",)
    default_rate_limits = RateLimits(requests_per_minute=600)
    health_path = "/health"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "default": "https://api.example.com",
                "description": "Root URL of the {{ display_name }} API",
            },
            "api_key_header": {
                "type": "string",
                "default": "X-API-Key",
                "description": "Header that carries the API key",
            },
        },
    }

    @action("item.list", cache_ttl=60, params=ITEM_LIST_PARAMS)
    def item_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List items, following the API's Link-header pages."""
        pages = paginate_link_header(
            self.http, "/items", params={"per_page": 100}, max_items=params["limit"]
        )
        return [dict(item) for item in pages]

    @action("item.get", cache_ttl=60, params=ItemRef)
    def item_get(self, params: ItemRef) -> dict[str, Any]:
        """Read one item."""
        item: dict[str, Any] = self.http.get(f"/items/{params.id}").json()
        return item

    @action("item.create", mutating=True, params=ITEM_CREATE_PARAMS)
    def item_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Create an item (retried by the gateway only with an idempotency key)."""
        item: dict[str, Any] = self.http.post("/items", json=params).json()
        return item
