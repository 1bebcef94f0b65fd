"""Static checks of a connector class: what ``sdk validate`` reports and the conformance suite asserts.

Each finding names the check, says what is wrong, and says how to fix it. ``error`` findings fail
``sdk validate`` and the conformance suite; ``warning`` findings are advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CHECKS", "Finding", "check_connector"]

#: The check names, in report order.
CHECKS = (
    "class",
    "metadata",
    "config_schema",
    "auth",
    "capabilities",
    "params",
    "permissions",
    "webhooks",
)

_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?$")
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(?:[.:][a-z0-9_]+)*$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*(?:[.:][a-z0-9_*-]+)*$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a connector."""

    check: str
    level: str  # "error" | "warning"
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "message": self.message, "fix": self.fix}


def _meta_schema_errors(schema: Any) -> list[str]:
    """Errors of ``schema`` against its JSON Schema meta-schema (draft 2020-12 unless ``$schema`` says)."""
    import jsonschema
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        return [f"must be a JSON object, not {type(schema).__name__}"]
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(cls.META_SCHEMA)
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message}"
        for err in sorted(validator.iter_errors(schema), key=lambda e: list(e.absolute_path))
    ][:5]


def _unsupported_keywords(schema: Any, path: str = "") -> list[str]:
    """Keywords the gateway's fast validator does not enforce (it checks a subset on every call)."""
    from cuervo_fabric.domain.schema import SUPPORTED_KEYWORDS

    found: list[str] = []
    if not isinstance(schema, dict):
        return found
    for key, value in schema.items():
        if key not in SUPPORTED_KEYWORDS and not key.startswith("x-"):
            found.append(f"{path or '(root)'}: {key}")
        if key == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                found += _unsupported_keywords(sub, f"{path}.{name}" if path else name)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            found += _unsupported_keywords(value, f"{path}[{key}]")
    return found


def _check_defaults(schema: dict[str, Any], where: str, out: list[Finding]) -> None:
    from cuervo_fabric.domain.schema import validate
    from cuervo_fabric.errors import FabricError

    props = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in props:
            out.append(
                Finding(
                    where,
                    "error",
                    f"required field {name!r} is not in properties",
                    f"add {name!r} to properties",
                )
            )
    for name, sub in props.items():
        if isinstance(sub, dict) and "default" in sub:
            try:
                validate(sub, sub["default"], path=name)
            except FabricError as exc:
                out.append(
                    Finding(
                        where,
                        "error",
                        f"the default of {name!r} is invalid: {exc.message}",
                        "fix the default",
                    )
                )


def check_connector(cls: Any) -> list[Finding]:
    """Every static finding about connector class ``cls`` (empty: all checks pass)."""
    from cuervo_fabric.domain.models import AUTH_TYPES, ConnectorCategory, ConnectorMetadata
    from cuervo_fabric.sdk._connector import BaseConnector

    out: list[Finding] = []
    if not (isinstance(cls, type) and issubclass(cls, BaseConnector)):
        return [
            Finding("class", "error", f"{cls!r} is not a BaseConnector subclass", "subclass BaseConnector")
        ]
    name = cls.__name__
    for attr in ("id", "version", "metadata"):
        if not hasattr(cls, attr):
            out.append(
                Finding("class", "error", f"{name} has no {attr!r}", f"declare the class attribute {attr}")
            )
    if out:
        return out
    # Read the declarations as plain values: a broken connector may have put anything there.
    ident: Any = vars(cls).get("id", cls.id)
    version: Any = vars(cls).get("version", cls.version)
    meta: Any = vars(cls).get("metadata", cls.metadata)
    schema: Any = cls.config_schema
    if not isinstance(ident, str) or not _ID.match(ident):
        out.append(
            Finding("class", "error", f"id {ident!r} is not kebab-case", "use lowercase words joined by '-'")
        )
    if not isinstance(version, str) or not _SEMVER.match(version):
        out.append(Finding("class", "error", f"version {version!r} is not semantic", "use MAJOR.MINOR.PATCH"))

    # metadata
    if not isinstance(meta, ConnectorMetadata):
        out.append(
            Finding("metadata", "error", "metadata is not a ConnectorMetadata", "use ConnectorMetadata(...)")
        )
    else:
        for field_name in ("name", "description", "vendor"):
            if not str(getattr(meta, field_name) or "").strip():
                out.append(
                    Finding("metadata", "error", f"metadata.{field_name} is empty", f"set {field_name}=...")
                )
        if meta.category not in set(ConnectorCategory):
            out.append(
                Finding(
                    "metadata",
                    "error",
                    f"metadata.category {meta.category!r} is not a ConnectorCategory",
                    "use ConnectorCategory.<NAME>",
                )
            )
        if not meta.documentation_url:
            out.append(
                Finding("metadata", "warning", "metadata.documentation_url is empty", "link the API's docs")
            )
        for field_name in ("documentation_url", "support_url", "privacy_policy_url"):
            url = getattr(meta, field_name)
            if url and not re.match(r"^https?://", url):
                out.append(Finding("metadata", "error", f"metadata.{field_name} is not an http(s) URL", ""))

    # config schema
    problems = _meta_schema_errors(schema)
    for problem in problems:
        out.append(
            Finding(
                "config_schema",
                "error",
                f"config_schema is not valid JSON Schema: {problem}",
                "fix the schema",
            )
        )
    if not problems:
        if schema.get("type") != "object":
            out.append(
                Finding(
                    "config_schema", "error", "config_schema must be of type object", 'add "type": "object"'
                )
            )
        _check_defaults(schema, "config_schema", out)
        for kw in _unsupported_keywords(schema):
            out.append(
                Finding(
                    "config_schema",
                    "warning",
                    f"keyword not enforced when settings are validated: {kw}",
                    "use type/enum/pattern/min*/max*/required, or check it in on_initialize",
                )
            )
        props = schema.get("properties") or {}
        for prop, sub in props.items():
            if isinstance(sub, dict) and not sub.get("description"):
                out.append(
                    Finding(
                        "config_schema",
                        "warning",
                        f"setting {prop!r} has no description",
                        "add a description: connector install shows it when it asks",
                    )
                )
        if "base_url" not in props:
            out.append(
                Finding(
                    "config_schema",
                    "warning",
                    "no base_url setting",
                    "HTTP connectors accept base_url (self-hosted servers, tests)",
                )
            )

    # auth
    if not cls.auth_types:
        out.append(Finding("auth", "error", "auth_types is empty", 'declare at least ("none",)'))
    for auth in cls.auth_types:
        if auth not in AUTH_TYPES:
            out.append(
                Finding("auth", "error", f"unknown auth type {auth!r}", f"use one of {', '.join(AUTH_TYPES)}")
            )
    setting = cls.auth_type_setting
    if setting is not None:
        prop = (schema.get("properties") or {}).get(setting) if isinstance(schema, dict) else None
        if not isinstance(prop, dict):
            out.append(
                Finding(
                    "auth",
                    "error",
                    f"auth_type_setting {setting!r} is not a setting",
                    "add it to config_schema",
                )
            )
        elif set(prop.get("enum") or []) - set(cls.auth_types):
            out.append(
                Finding(
                    "auth",
                    "error",
                    f"setting {setting!r} allows auth types the connector does not declare",
                    "",
                )
            )

    # capabilities and params
    try:
        decls = cls.declarations()
    except (TypeError, ValueError) as exc:
        out.append(
            Finding("capabilities", "error", f"cannot read the actions: {exc}", "fix the declarations")
        )
        decls = {}
    if not decls:
        out.append(
            Finding("capabilities", "error", "no actions declared", "decorate a method with @action(...)")
        )
    for action_id, decl in decls.items():
        handler = decl.handler
        if isinstance(handler, str):
            fn = getattr(cls, handler, None)
            ok = callable(fn)
        else:
            ok = callable(handler)
        if not ok:
            out.append(
                Finding(
                    "capabilities",
                    "error",
                    f"capability {action_id!r} has no handler ({handler!r})",
                    "point handler at a method of the connector",
                )
            )
        if not _ACTION.match(action_id):
            out.append(
                Finding(
                    "capabilities", "warning", f"action id {action_id!r} is not noun.verb", "e.g. item.list"
                )
            )
        if not decl.description:
            out.append(
                Finding(
                    "capabilities",
                    "warning",
                    f"{action_id!r} has no description",
                    "give the handler a docstring",
                )
            )
        if decl.mutating and decl.cache_ttl:
            out.append(
                Finding(
                    "capabilities",
                    "error",
                    f"{action_id!r} is mutating but cached (cache_ttl={decl.cache_ttl})",
                    "set cache_ttl=0 for actions that change provider state",
                )
            )
        try:
            params = decl.params_schema()
        except TypeError as exc:
            out.append(
                Finding("params", "error", str(exc), "pass a JSON Schema dict or a pydantic model class")
            )
            continue
        if params is None:
            continue
        problems = _meta_schema_errors(params)
        for problem in problems:
            out.append(
                Finding("params", "error", f"{action_id!r} params schema: {problem}", "fix the schema")
            )
        if problems:
            continue
        if params.get("type") != "object":
            out.append(Finding("params", "error", f"{action_id!r} params must be of type object", ""))
        _check_defaults(params, "params", out)
        for kw in _unsupported_keywords(params):
            if kw.split(": ", 1)[1] in ("$defs", "$ref", "anyOf") and decl.params_model is not None:
                continue  # pydantic models validate these themselves in run_action
            out.append(
                Finding(
                    "params",
                    "warning",
                    f"{action_id!r}: keyword not enforced before the request: {kw}",
                    "use a pydantic model, or check it in the handler",
                )
            )

    # permissions
    perms = tuple(cls.required_permissions)
    if not perms:
        out.append(
            Finding(
                "permissions",
                "error",
                "no required_permissions declared",
                'declare what the connector needs, e.g. Permission("network.outbound", "...", True, "why")',
            )
        )
    for perm in perms:
        if not _SCOPE.match(str(perm.scope)):
            out.append(
                Finding(
                    "permissions", "error", f"permission scope {perm.scope!r} is malformed", "e.g. code.read"
                )
            )
        if not perm.description:
            out.append(Finding("permissions", "error", f"permission {perm.scope!r} has no description", ""))
        if not perm.justification:
            out.append(
                Finding(
                    "permissions",
                    "warning",
                    f"permission {perm.scope!r} has no justification",
                    "say why the connector needs it: admins see it when granting",
                )
            )

    # webhooks: a connector that receives webhooks must say how they are verified (fail closed)
    if cls.receives_webhooks and _webhook_verifier(cls) is None:
        out.append(
            Finding(
                "webhooks",
                "error",
                "receives_webhooks is set but no webhook verifier is declared",
                "declare webhook = WebhookSpec(verifier=GitHubSignature(), ...) (see the connector guide)",
            )
        )
    return out


def _webhook_verifier(cls: Any) -> Any:
    """The verifier of the connector's ``webhook = WebhookSpec(...)`` (``None``: none declared)."""
    spec = getattr(cls, "webhook", None)
    return getattr(spec, "verifier", None)
