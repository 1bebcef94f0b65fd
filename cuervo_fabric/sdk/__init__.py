"""The public connector SDK: the one surface connector authors import.

Example:
    >>> from cuervo_fabric.sdk import BaseConnector, ConnectorMetadata, action
"""

from __future__ import annotations

from cuervo_fabric.domain.models import (
    Capability,
    ConnectorCategory,
    ConnectorMetadata,
    HealthCheckResult,
    Permission,
    RateLimits,
)
from cuervo_fabric.errors import (
    AuthFailedError,
    AuthRequiredError,
    FabricError,
    FabricTimeoutError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnknownActionError,
    UpstreamError,
)
from cuervo_fabric.sdk._action import ActionDeclaration, action
from cuervo_fabric.sdk._connector import BaseConnector, ConnectorContext, HttpClient

__all__ = [
    "ActionDeclaration",
    "AuthFailedError",
    "AuthRequiredError",
    "BaseConnector",
    "Capability",
    "ConnectorCategory",
    "ConnectorContext",
    "ConnectorMetadata",
    "FabricError",
    "FabricTimeoutError",
    "HealthCheckResult",
    "HttpClient",
    "InvalidInputError",
    "NotFoundError",
    "Permission",
    "PermissionDeniedError",
    "RateLimitedError",
    "RateLimits",
    "UnknownActionError",
    "UpstreamError",
    "action",
]
