"""A small, fast JSON Schema validator for connector settings and action parameters.

It covers the subset connectors use (``type``, ``properties``, ``required``,
``additionalProperties``, ``enum``, ``const``, ``minimum``/``maximum``, ``minLength``/``maxLength``,
``pattern``, ``items``, ``minItems``/``maxItems``, ``default``) and runs on every ``exec``, where
importing the full ``jsonschema`` package would cost more than the call. ``sdk validate`` checks a
connector's schemas against the full meta-schema.

``coerce_text=True`` turns command-line text (``--set port=8080``) into the declared type.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cuervo_fabric.errors import InvalidInputError

__all__ = ["SUPPORTED_KEYWORDS", "validate"]

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "minItems",
        "maxItems",
        "default",
        "description",
        "title",
        "format",
        "examples",
        "$schema",
        "$id",
        "secret",
        "writeOnly",
        "readOnly",
        "deprecated",
        "x-order",
    }
)

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(name, object))


def _coerce(value: str, types: list[str], where: str) -> Any:
    for name in types:
        if name == "string":
            return value
        if name == "integer":
            try:
                return int(value)
            except ValueError:
                continue
        if name == "number":
            try:
                return float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                continue
        if name == "boolean":
            lowered = value.strip().lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            continue
        if name in ("array", "object"):
            looks_json = value.lstrip()[:1] in ("[", "{")
            try:
                parsed = json.loads(value)
            except ValueError:
                if name == "array" and not looks_json:
                    return [v.strip() for v in value.split(",") if v.strip()]
                continue
            if _is_type(parsed, name):
                return parsed
        if name == "null" and value.lower() in ("null", "none", ""):
            return None
    raise InvalidInputError(
        f"{where}: expected {' or '.join(types)}, got {value!r}",
        details={"field": where},
    )


def validate(schema: dict[str, Any], data: Any, *, coerce_text: bool = False, path: str = "") -> Any:
    """Return ``data`` with defaults applied (and text coerced); raise ``INVALID_INPUT``."""
    where = path or "value"
    raw_types = schema.get("type")
    types = [raw_types] if isinstance(raw_types, str) else list(raw_types or [])
    if coerce_text and isinstance(data, str) and types and "string" not in types:
        data = _coerce(data, types, where)
    if types and not any(_is_type(data, t) for t in types):
        got = type(data).__name__
        raise InvalidInputError(
            f"{where}: expected {' or '.join(types)}, got {got} {data!r}"[:300],
            details={"field": where},
        )
    if "const" in schema and data != schema["const"]:
        raise InvalidInputError(f"{where}: must be {schema['const']!r}", details={"field": where})
    if "enum" in schema and data not in schema["enum"]:
        choices = ", ".join(repr(v) for v in schema["enum"])
        raise InvalidInputError(f"{where}: {data!r} is not one of {choices}", details={"field": where})
    if isinstance(data, int | float) and not isinstance(data, bool):
        _check_number(schema, data, where)
    if isinstance(data, str):
        _check_string(schema, data, where)
    if isinstance(data, list):
        data = _check_array(schema, data, where, coerce_text)
    if isinstance(data, dict):
        data = _check_object(schema, data, path, coerce_text)
    return data


def _check_number(schema: dict[str, Any], data: float, where: str) -> None:
    if "minimum" in schema and data < schema["minimum"]:
        raise InvalidInputError(f"{where}: must be >= {schema['minimum']}", details={"field": where})
    if "maximum" in schema and data > schema["maximum"]:
        raise InvalidInputError(f"{where}: must be <= {schema['maximum']}", details={"field": where})
    if "exclusiveMinimum" in schema and data <= schema["exclusiveMinimum"]:
        raise InvalidInputError(f"{where}: must be > {schema['exclusiveMinimum']}", details={"field": where})
    if "exclusiveMaximum" in schema and data >= schema["exclusiveMaximum"]:
        raise InvalidInputError(f"{where}: must be < {schema['exclusiveMaximum']}", details={"field": where})


def _check_string(schema: dict[str, Any], data: str, where: str) -> None:
    if "minLength" in schema and len(data) < schema["minLength"]:
        raise InvalidInputError(
            f"{where}: must be at least {schema['minLength']} characters", details={"field": where}
        )
    if "maxLength" in schema and len(data) > schema["maxLength"]:
        raise InvalidInputError(
            f"{where}: must be at most {schema['maxLength']} characters", details={"field": where}
        )
    if "pattern" in schema and not re.search(schema["pattern"], data):
        raise InvalidInputError(f"{where}: does not match {schema['pattern']!r}", details={"field": where})


def _check_array(schema: dict[str, Any], data: list[Any], where: str, coerce: bool) -> list[Any]:
    if "minItems" in schema and len(data) < schema["minItems"]:
        raise InvalidInputError(
            f"{where}: needs at least {schema['minItems']} items", details={"field": where}
        )
    if "maxItems" in schema and len(data) > schema["maxItems"]:
        raise InvalidInputError(
            f"{where}: takes at most {schema['maxItems']} items", details={"field": where}
        )
    items = schema.get("items")
    if isinstance(items, dict):
        return [validate(items, v, coerce_text=coerce, path=f"{where}[{i}]") for i, v in enumerate(data)]
    return data


def _check_object(schema: dict[str, Any], data: dict[str, Any], path: str, coerce: bool) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    out = dict(data)
    for key, sub in props.items():
        if key not in out and isinstance(sub, dict) and "default" in sub:
            out[key] = sub["default"]
    for key in schema.get("required", []):
        if key not in out or out[key] is None:
            field = f"{path}.{key}" if path else key
            raise InvalidInputError(f"{field}: required", details={"field": field})
    extra = schema.get("additionalProperties", True)
    for key, value in list(out.items()):
        field = f"{path}.{key}" if path else key
        if key in props:
            out[key] = validate(props[key], value, coerce_text=coerce, path=field)
        elif extra is False:
            known = ", ".join(sorted(props)) or "none"
            raise InvalidInputError(f"{field}: unknown setting (known: {known})", details={"field": field})
        elif isinstance(extra, dict):
            out[key] = validate(extra, value, coerce_text=coerce, path=field)
    return out
