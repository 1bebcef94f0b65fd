"""The static checks and the conformance suite catch what a broken connector gets wrong, with a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.sdk import (
    ActionDeclaration,
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    Permission,
    action,
)
from cuervo_fabric.sdk._checks import check_connector
from cuervo_fabric.testing import connector_test_class, sample_params


class Broken(BaseConnector):
    """Wrong in as many ways as the checks know."""

    id = "Broken_Conn"
    version = "one"
    metadata = ConnectorMetadata(name="", description="x", category=ConnectorCategory.CUSTOM, vendor="v")
    config_schema = {
        "type": "object",
        "properties": {"port": {"type": "integer", "default": "eighty"}},
        "required": ["host"],
    }
    auth_types = ("magic",)
    receives_webhooks = True

    @classmethod
    def actions(cls) -> list[ActionDeclaration]:
        return [ActionDeclaration("ghost.run", handler="no_such_method")]

    @action(
        "thing.make",
        mutating=True,
        cache_ttl=60,
        params={"type": "object", "properties": {"n": {"type": "wrong"}}},
    )
    def make(self, params: dict[str, Any]) -> None: ...


class Fine(BaseConnector):
    """A small connector that passes every static check."""

    id = "fine"
    version = "1.2.3"
    metadata = ConnectorMetadata(
        name="Fine",
        description="ok",
        category=ConnectorCategory.CUSTOM,
        vendor="v",
        documentation_url="https://x.test",
    )
    config_schema = {"type": "object", "properties": {"base_url": {"type": "string", "description": "root"}}}
    required_permissions = (Permission("network.outbound", "calls", True, "why"),)

    @action(
        "thing.get", params={"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    )
    def get(self, params: dict[str, Any]) -> Any:
        """Read a thing."""
        return self.http.get(f"/things/{params['id']}").json()


def test_static_checks_report_each_problem_with_a_fix() -> None:
    """Each broken declaration yields an error finding in the right check, with how to fix it."""
    findings = [f for f in check_connector(Broken) if f.level == "error"]
    by_check: dict[str, list[str]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f.message)
        assert f.fix or f.check == "metadata", f
    text = "\n".join(f.message for f in findings)
    assert "not kebab-case" in text
    assert "not semantic" in text
    assert "metadata.name is empty" in text
    assert "default of 'port' is invalid" in text
    assert "required field 'host' is not in properties" in text
    assert "unknown auth type 'magic'" in text
    assert "capability 'ghost.run' has no handler" in text
    assert "mutating but cached" in text
    assert "'thing.make' params schema" in text
    assert "no required_permissions" in text
    assert "no webhook verifier" in text
    assert set(by_check) == {
        "class",
        "metadata",
        "config_schema",
        "auth",
        "capabilities",
        "params",
        "permissions",
        "webhooks",
    }


def test_a_good_connector_has_no_errors() -> None:
    """A complete connector yields no error findings."""
    assert [f for f in check_connector(Fine) if f.level == "error"] == []


def test_the_generated_suite_fails_a_broken_connector() -> None:
    """The conformance class's static tests fail for the broken connector, naming the problem."""
    suite = connector_test_class(Broken)()
    with pytest.raises(pytest.fail.Exception, match="no handler"):
        suite.test_every_capability_has_a_handler()
    with pytest.raises(pytest.fail.Exception, match="no required_permissions"):
        suite.test_permissions_declared()


def test_the_generated_suite_passes_a_good_connector(tmp_path: Path) -> None:
    """The dynamic tests run Fine through the pipeline: invalid params rejected, 404 mapped, health works."""
    suite = connector_test_class(Fine)()
    suite.test_metadata_complete()
    suite.test_invalid_params_rejected_before_any_request(tmp_path)
    suite.test_health_check_works(tmp_path)
    from cuervo_fabric.testing._conformance import ERROR_CASES

    case = next(c for c in ERROR_CASES if c[0] == "404")
    suite.test_errors_map_to_codes(tmp_path, *case)


def test_sample_params_satisfy_their_schema() -> None:
    """Samples respect required fields, enums, minimums, defaults and pydantic $ref/anyOf schemas."""
    schema = {
        "type": "object",
        "required": ["kind", "n", "tags", "child", "maybe"],
        "properties": {
            "kind": {"type": "string", "enum": ["a", "b"]},
            "n": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "child": {"$ref": "#/$defs/Child"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "optional": {"type": "string"},
        },
        "$defs": {"Child": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}},
    }
    assert sample_params(schema) == {"kind": "a", "n": 3, "tags": ["x"], "child": {"id": "x"}, "maybe": False}
