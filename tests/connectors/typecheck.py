"""A strict runtime check of JSON data against the SDK's TypedDict domain types.

(pydantic needs ``typing_extensions.TypedDict`` before Python 3.12; the SDK uses ``typing``.)
"""

from __future__ import annotations

import types
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

__all__ = ["conforms"]


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _check(value: Any, tp: Any, where: str, out: list[str]) -> None:
    origin = get_origin(tp)
    if tp is Any:
        return
    if origin in (NotRequired, Required):
        _check(value, get_args(tp)[0], where, out)
        return
    if origin in (Union, types.UnionType):
        trial: list[str] = []
        for option in get_args(tp):
            attempt: list[str] = []
            _check(value, option, where, attempt)
            if not attempt:
                return
            trial += attempt
        out.append(f"{where}: {value!r} matches none of {tp}")
        return
    if origin is Literal:
        if value not in get_args(tp):
            out.append(f"{where}: {value!r} is not one of {get_args(tp)}")
        return
    if origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, get_args(tp)[0], f"{where}[{i}]", out)
        return
    if origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(item, get_args(tp)[1], f"{where}.{key}", out)
        return
    if _is_typeddict(tp):
        if not isinstance(value, dict):
            out.append(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
            return
        hints = get_type_hints(tp, include_extras=True)
        # With postponed annotations, Python 3.11 cannot see NotRequired[...] when it builds
        # __required_keys__: read it from the evaluated hints.
        for key in tp.__required_keys__:
            if get_origin(hints[key]) is not NotRequired and key not in value:
                out.append(f"{where}: {tp.__name__} lacks {key!r}")
        for key, item in value.items():
            if key not in hints:
                out.append(f"{where}: {tp.__name__} has no key {key!r}")
            else:
                _check(item, hints[key], f"{where}.{key}", out)
        return
    if tp is type(None):
        if value is not None:
            out.append(f"{where}: expected null, got {value!r}")
        return
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        out.append(f"{where}: expected int, got {value!r}")
        return
    if isinstance(tp, type) and not isinstance(value, tp):
        out.append(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")


def conforms(value: Any, tp: Any) -> list[str]:
    """The ways ``value`` differs from type ``tp`` (empty when it conforms)."""
    out: list[str] = []
    _check(value, tp, "data", out)
    return out
