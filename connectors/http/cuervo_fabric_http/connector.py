"""The generic ``http`` connector (category ``custom``).

It reaches any REST API through the full gateway pipeline, with any of the seed's auth types, and
is how a user checks the pipeline against their own service::

    cuervo-fabric connector install http --name myapi --set base_url=https://api.example.com \\
        --set auth_type=bearer_token
    cuervo-fabric auth login myapi --with-token < token.txt
    cuervo-fabric exec myapi request -p method=GET -p path=/v1/things
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.sdk import (
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    Permission,
    action,
)

__all__ = ["HttpConnector"]

_OAUTH_SETTINGS = {
    "authorize_url": {"type": "string", "description": "OAuth2 authorization endpoint"},
    "token_url": {"type": "string", "description": "OAuth2 token endpoint"},
    "revocation_url": {"type": "string", "description": "OAuth2 revocation endpoint (RFC 7009)"},
    "device_authorization_url": {
        "type": "string",
        "description": "OAuth2 device authorization endpoint (RFC 8628)",
    },
    "client_id": {"type": "string", "description": "OAuth2 client id"},
    "issuer": {
        "type": "string",
        "description": "OAuth2 issuer identifier; the authorization response's iss must equal it (RFC 9207)",
    },
    "scopes": {"type": "array", "items": {"type": "string"}, "description": "OAuth2 scopes"},
}

REQUEST_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "method": {
            "type": "string",
            "enum": ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
            "default": "GET",
        },
        "path": {"type": "string", "description": "path relative to base_url, e.g. /v1/items"},
        "query": {"type": "object", "description": "query parameters"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"description": "JSON body (object, array or scalar)"},
    },
}


class HttpConnector(BaseConnector):
    """Any REST API, through the gateway."""

    id = "http"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="Generic HTTP",
        description="Reach any REST API through the gateway, with any auth type",
        category=ConnectorCategory.CUSTOM,
        vendor="cuervo-fabric",
        documentation_url="https://github.com/cuervo-fabric/cuervo-fabric/blob/main/docs/http-connector.md",
        tags=("rest", "generic"),
    )
    required_permissions = (
        Permission(
            scope="network.outbound",
            description="Send HTTP requests to the configured base_url",
            justification="The connector's only job is calling the configured API",
        ),
    )
    auth_types = (
        "none",
        "bearer_token",
        "api_key",
        "basic_auth",
        "oauth2",
        "mtls",
        "service_account",
    )
    auth_type_setting = "auth_type"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["base_url"],
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "Root URL of the API, e.g. https://api.example.com",
            },
            "auth_type": {
                "type": "string",
                "enum": list(auth_types),
                "default": "none",
                "description": "How the gateway authenticates requests",
            },
            "api_key_header": {
                "type": "string",
                "default": "X-API-Key",
                "description": "Header that carries the key when auth_type is api_key",
            },
            "health_path": {
                "type": "string",
                "default": "/",
                "description": "Path the health check GETs",
            },
            **_OAUTH_SETTINGS,
        },
    }

    def on_health_check(self) -> dict[str, Any]:
        self.http.get(str(self.settings.get("health_path") or "/"))
        return {"status": "healthy"}

    @action("request", name="HTTP request", params=REQUEST_PARAMS)
    def request(self, params: dict[str, Any]) -> dict[str, Any]:
        """Send one HTTP request to ``base_url`` + ``path`` and return status, headers and body."""
        method = str(params.get("method", "GET")).upper()
        body = params.get("body")
        resp = self.http.request(
            method,
            str(params["path"]),
            params=params.get("query") or None,
            json=body if body is not None and method not in ("GET", "HEAD") else None,
            headers=params.get("headers") or None,
        )
        headers = _header_dict(resp.headers)
        data: Any
        if "json" in headers.get("content-type", ""):
            try:
                data = resp.json()
            except ValueError:
                data = resp.text
        else:
            data = resp.text
        return {"status": resp.status_code, "headers": headers, "body": data}


def _header_dict(headers: Any) -> dict[str, str]:
    """Headers by lower-case name, a repeated header's values joined with ``", "`` (as
    ``dict(headers)`` gives, in one pass instead of a lookup per name)."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
