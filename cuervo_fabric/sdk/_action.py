"""The ``@action`` decorator: how a connector declares a capability and its handler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ActionDeclaration", "action"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ActionDeclaration:
    """What ``@action`` records on a handler method."""

    id: str
    name: str
    description: str
    cache_ttl: int
    weight: int
    mutating: bool
    params: Any
    scopes: tuple[str, ...]
    streaming: bool

    def params_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the parameters (from a dict, or a pydantic model's schema)."""
        if self.params is None:
            return None
        if isinstance(self.params, dict):
            return self.params
        schema_fn = getattr(self.params, "model_json_schema", None)
        if schema_fn is None:
            raise TypeError(f"params of {self.id!r} must be a JSON Schema dict or a pydantic model")
        result: dict[str, Any] = schema_fn()
        return result


def action(
    id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    cache_ttl: int = 0,
    weight: int = 1,
    mutating: bool = False,
    params: Any = None,
    scopes: Sequence[str] = (),
    streaming: bool = False,
) -> Callable[[F], F]:
    """Declare a method as the handler of capability ``id``.

    Args:
        id: the capability id, e.g. ``"repo.list"``.
        name: a short human name (defaults to the id).
        description: one sentence (defaults to the handler's docstring's first line).
        cache_ttl: seconds a successful result may be served from the gateway's cache.
        weight: rate-limit tokens one call costs (most 1, search 5, bulk 10).
        mutating: the action changes provider state; the gateway then retries it only when the
            caller gives an idempotency key.
        params: a JSON Schema dict or a pydantic model class for the parameters; the gateway
            validates them before any request is sent.
        scopes: provider scopes the capability needs.
        streaming: the handler is a generator of ConnectorEvent dicts (``exec --stream``).

    Example:
        >>> from cuervo_fabric.sdk import BaseConnector, action
        >>> class Echo(BaseConnector):
        ...     @action("echo.say", params={"type": "object", "required": ["text"],
        ...                                 "properties": {"text": {"type": "string"}}})
        ...     def say(self, params):
        ...         return {"said": params["text"]}
    """
    if not id or any(c.isspace() for c in id):
        raise ValueError(f"invalid action id {id!r}")
    if weight < 1:
        raise ValueError("weight must be at least 1")

    def decorate(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().splitlines()
        decl = ActionDeclaration(
            id=id,
            name=name or id,
            description=description if description is not None else (doc[0] if doc else ""),
            cache_ttl=cache_ttl,
            weight=weight,
            mutating=mutating,
            params=params,
            scopes=tuple(scopes),
            streaming=streaming,
        )
        fn.__cuervo_action__ = decl  # type: ignore[attr-defined]
        return fn

    return decorate
