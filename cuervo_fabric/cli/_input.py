"""Parsing of ``key=value`` flags, TOML files and JSON params from the command line."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from cuervo_fabric.errors import InvalidInputError

__all__ = ["parse_pairs", "read_json_arg", "read_toml_settings"]


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; bad syntax is INVALID_INPUT."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(
                f"bad {flag} {pair!r}: expected KEY=VALUE (e.g. {flag} base_url=https://api.example.com)",
                details={"field": flag},
            )
        out[key] = value
    return out


def read_toml_settings(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", details={"field": "config"}) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid TOML: {exc}", details={"field": "config"}) from exc
    settings = data.get("settings", data)
    if not isinstance(settings, dict):
        raise InvalidInputError(f"{path}: [settings] must be a table", details={"field": "config"})
    return settings


def read_json_arg(value: str | None) -> dict[str, Any]:
    """``--params``: inline JSON, ``@FILE`` or ``-`` (stdin); must be an object."""
    if value is None:
        return {}
    if value == "-":
        text = sys.stdin.read()
        where = "stdin"
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {value[1:]}: {exc.strerror}", details={"field": "params"}
            ) from exc
        where = value[1:]
    else:
        text, where = value, "--params"
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{where} is not valid JSON: {exc}", details={"field": "params"}) from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where} must be a JSON object", details={"field": "params"})
    return data
