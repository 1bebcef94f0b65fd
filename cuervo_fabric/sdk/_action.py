"""The ``@action`` decorator: how a connector declares a capability and its handler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ActionDeclaration", "action"]

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute ``@action`` sets on a handler function.
MARKER = "__cuervo_action__"


@dataclass(frozen=True, slots=True)
class ActionDeclaration:
    """One capability of a connector: its id, gateway policy, parameter schema and handler.

    ``@action`` builds these from decorated methods. Build them yourself only when actions are
    generated from data, and return them from ``BaseConnector.actions()``.

    Attributes:
        id: the capability id, e.g. ``"repo.list"``.
        name: a short human name (empty: the id).
        description: one sentence shown by ``connector available ID``.
        cache_ttl: seconds a successful result may be served from the gateway's cache.
        weight: rate-limit tokens one call costs.
        mutating: the action changes provider state.
        params: a JSON Schema dict, a pydantic model class, or ``None`` (no parameters checked).
        scopes: provider scopes the capability needs.
        streaming: the handler yields ConnectorEvent dicts.
        handler: for ``actions()``: a method name of the connector, or a function
            ``handler(connector, params)``; ``@action`` leaves it ``None`` (the method itself).

    Example:
        >>> from cuervo_fabric.sdk import ActionDeclaration
        >>> decl = ActionDeclaration("item.get", handler="get_item",
        ...                          params={"type": "object", "required": ["id"],
        ...                                  "properties": {"id": {"type": "string"}}})
        >>> decl.params_schema()["required"]
        ['id']
    """

    id: str
    name: str = ""
    description: str = ""
    cache_ttl: int = 0
    weight: int = 1
    mutating: bool = False
    params: Any = None
    scopes: tuple[str, ...] = ()
    streaming: bool = False
    handler: str | Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if not self.id or any(c.isspace() for c in self.id):
            raise ValueError(f"invalid action id {self.id!r}")
        if self.weight < 1:
            raise ValueError(f"action {self.id!r}: weight must be at least 1")
        if self.cache_ttl < 0:
            raise ValueError(f"action {self.id!r}: cache_ttl must not be negative")
        if not self.name:
            object.__setattr__(self, "name", self.id)
        object.__setattr__(self, "scopes", tuple(self.scopes))

    @property
    def params_model(self) -> Any:
        """The pydantic model class of the parameters, or ``None`` for a JSON Schema dict.

        Example:
            >>> from cuervo_fabric.sdk import ActionDeclaration
            >>> ActionDeclaration("x.y", params={"type": "object"}).params_model is None
            True
        """
        if self.params is None or isinstance(self.params, dict):
            return None
        return self.params

    def params_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the parameters (the dict itself, or a pydantic model's schema).

        Returns:
            The schema, or ``None`` when the action declares no parameters.

        Raises:
            TypeError: ``params`` is neither a dict nor a pydantic model class.

        Example:
            >>> from cuervo_fabric.sdk import ActionDeclaration
            >>> ActionDeclaration("x.y").params_schema() is None
            True
        """
        if self.params is None:
            return None
        if isinstance(self.params, dict):
            return self.params
        schema_fn = getattr(self.params, "model_json_schema", None)
        if schema_fn is None:
            raise TypeError(f"params of {self.id!r} must be a JSON Schema dict or a pydantic model class")
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

    The handler receives the parameters after the gateway validated them and applied the schema's
    defaults: a ``dict`` for a JSON Schema, an instance of the model for a pydantic model class.
    What it returns becomes ``data`` of the ConnectorResult; a ``FabricError`` it raises becomes
    ``error`` with its stable code.

    Args:
        id: the capability id, e.g. ``"repo.list"``.
        name: a short human name (defaults to the id).
        description: one sentence (defaults to the first line of the handler's docstring).
        cache_ttl: seconds a successful result may be served from the gateway's cache.
        weight: rate-limit tokens one call costs (most 1, search 5, bulk 10).
        mutating: the action changes provider state; the gateway then retries it only when the
            caller gives an idempotency key, and never caches it.
        params: a JSON Schema dict or a pydantic model class for the parameters; the gateway
            validates them before any request is sent.
        scopes: provider scopes the capability needs.
        streaming: the handler is a generator of ConnectorEvent dicts (``exec --stream``).

    Returns:
        A decorator that marks the method and returns it unchanged.

    Example:
        >>> from typing import Any
        >>> from cuervo_fabric.sdk import BaseConnector, action
        >>> class Echo(BaseConnector):
        ...     @action("echo.say", params={"type": "object", "required": ["text"],
        ...                                 "properties": {"text": {"type": "string"}}})
        ...     def say(self, params: dict[str, Any]) -> dict[str, Any]:
        ...         return {"said": params["text"]}
        >>> sorted(Echo.declarations())
        ['echo.say']
    """

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
        setattr(fn, MARKER, decl)
        return fn

    # Validate eagerly so a bad declaration fails at class definition, not at first call.
    ActionDeclaration(id=id, weight=weight, cache_ttl=cache_ttl)
    return decorate
