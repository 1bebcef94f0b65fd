"""The {{ display_name }} connector: {{ description }}.

An OAuth2 connector written only against ``cuervo_fabric.sdk``. ``cuervo-fabric auth login``
runs the authorization-code flow with PKCE (or the device flow on a headless machine) using the
endpoints in the settings below; the gateway then adds the access token to every request,
refreshes it before it expires and once after a 401, and revokes it on logout.
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
    paginate_cursor,
)

__all__ = ["{{ class_name }}"]

AUTH_ROOT = "https://auth.example.com/oauth"

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
        tags=("{{ category_value }}", "oauth2"),
    )
    required_permissions = (
        Permission(
            scope="network.outbound",
            description="Call the {{ display_name }} API at the configured base_url",
            required=True,
            justification="Every action is a request to the {{ display_name }} API",
        ),
        Permission(
            scope="identity.read",
            description="Read the signed-in account",
            required=True,
            justification="me.read and the health check show whose token is in use",
        ),
    )
    auth_types = ("oauth2",)
    default_rate_limits = RateLimits(requests_per_minute=600)
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["client_id"],
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "default": "https://api.example.com",
                "description": "Root URL of the {{ display_name }} API",
            },
            "client_id": {"type": "string", "description": "OAuth2 client id of your app"},
            "authorize_url": {
                "type": "string",
                "default": f"{AUTH_ROOT}/authorize",
                "description": "OAuth2 authorization endpoint",
            },
            "token_url": {
                "type": "string",
                "default": f"{AUTH_ROOT}/token",
                "description": "OAuth2 token endpoint (code exchange and refresh)",
            },
            "revocation_url": {
                "type": "string",
                "default": f"{AUTH_ROOT}/revoke",
                "description": "OAuth2 revocation endpoint (RFC 7009), used on logout",
            },
            "device_authorization_url": {
                "type": "string",
                "default": f"{AUTH_ROOT}/device/code",
                "description": "OAuth2 device authorization endpoint (RFC 8628)",
            },
            "scopes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["read", "write"],
                "description": "Scopes to ask for at login",
            },
        },
    }

    def on_health_check(self) -> dict[str, Any]:
        """Healthy when the token still identifies an account."""
        self.http.get("/me")
        return {"status": "healthy"}

    @action("me.read", cache_ttl=300, scopes=("read",))
    def me_read(self, params: dict[str, Any]) -> dict[str, Any]:
        """Read the account the token belongs to."""
        me: dict[str, Any] = self.http.get("/me").json()
        return me

    @action("item.list", cache_ttl=60, scopes=("read",), params=ITEM_LIST_PARAMS)
    def item_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List items, following the API's cursor."""
        pages = paginate_cursor(
            self.http,
            "/items",
            items="data",
            next_cursor="next_cursor",
            max_items=params["limit"],
        )
        return [dict(item) for item in pages]
