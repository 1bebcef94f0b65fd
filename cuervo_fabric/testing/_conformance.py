"""The standard conformance suite every connector passes, as a generated pytest class.

``connector_test_class(MyConnector)`` returns a class of tests (meltano's ``get_tap_test_class``
idea): the static checks of ``sdk validate`` (metadata, config schema, capabilities and handlers,
params schemas, permissions, webhook verifier) and dynamic checks that run the connector through
the real pipeline against a loopback provider (install, health check, parameter validation before
any request, unknown actions, provider errors mapped onto the stable codes, webhook signatures).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cuervo_fabric.testing._harness import FabricHarness
from cuervo_fabric.testing._loopback import LoopbackServer, Reply

__all__ = ["connector_test_class", "sample_config", "sample_params", "sample_value"]

#: (provider reply, expected stable error code) pairs every connector must map the same way.
ERROR_CASES: tuple[tuple[str, Reply, str], ...] = (
    ("401", Reply(401, {"message": "Bad credentials"}), "AUTH_FAILED"),
    ("403", Reply(403, {"message": "Forbidden"}), "PERMISSION_DENIED"),
    ("404", Reply(404, {"message": "Not Found"}), "NOT_FOUND"),
    ("429", Reply(429, {"message": "slow down"}, {"Retry-After": "0"}), "RATE_LIMITED"),
    ("500", Reply(500, {"message": "boom"}), "UPSTREAM_ERROR"),
    ("dropped", Reply(drop=True), "UPSTREAM_ERROR"),
    ("timeout", Reply(200, {}, delay_s=1.5), "TIMEOUT"),
)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for step in ref[2:].split("/"):
            node = node.get(step, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list) and options and "type" not in schema:
        non_null = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
        return _resolve(non_null[0] if non_null else options[0], root)
    return schema


def sample_value(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """A value that satisfies ``schema`` (defaults, enums and examples first; then by type).

    Example:
        >>> from cuervo_fabric.testing import sample_value
        >>> sample_value({"type": "integer", "minimum": 5})
        5
    """
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("examples"):
        return schema["examples"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "array":
        item = schema.get("items")
        return [sample_value(item, root) for _ in range(int(schema.get("minItems", 0)))] if item else []
    if kind == "object":
        return sample_params(schema, root)
    pattern = str(schema.get("pattern", ""))
    if schema.get("format") == "uri" or "http" in pattern:
        return "http://127.0.0.1"
    return "x" * max(1, int(schema.get("minLength", 1)))


def sample_params(schema: Mapping[str, Any] | None, root: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The smallest object ``schema`` accepts: each required property with a sample value.

    Example:
        >>> from cuervo_fabric.testing import sample_params
        >>> sample_params({"type": "object", "required": ["owner"],
        ...                "properties": {"owner": {"type": "string"}, "page": {"type": "integer"}}})
        {'owner': 'x'}
    """
    if not schema:
        return {}
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    props = schema.get("properties") or {}
    return {name: sample_value(props.get(name, {}), root) for name in schema.get("required") or []}


def sample_config(
    connector: Any, base_url: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Settings for a test instance: ``base_url`` pointed at ``base_url``, required settings sampled.

    Example:
        >>> from cuervo_fabric_http.connector import HttpConnector
        >>> from cuervo_fabric.testing import sample_config
        >>> sample_config(HttpConnector, "http://127.0.0.1:9")
        {'base_url': 'http://127.0.0.1:9'}
    """
    schema = connector.config_schema
    config = sample_params(schema)
    if "base_url" in (schema.get("properties") or {}):
        config["base_url"] = base_url
    config.update(overrides or {})
    return config


def _fail_on(connector: Any, checks: Iterable[str]) -> None:
    import pytest

    from cuervo_fabric.sdk._checks import check_connector

    wanted = set(checks)
    errors = [f for f in check_connector(connector) if f.level == "error" and f.check in wanted]
    if errors:
        lines = [f"- [{f.check}] {f.message}" + (f" -> {f.fix}" if f.fix else "") for f in errors]
        pytest.fail(f"{connector.__name__} fails conformance:\n" + "\n".join(lines), pytrace=False)


def connector_test_class(
    connector: Any,
    *,
    config: Mapping[str, Any] | None = None,
    credential: Mapping[str, Any] | str | None = "test-credential",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    routes: Mapping[tuple[str, str], Reply] | None = None,
    probe_action: str | None = None,
) -> type:
    """Build the standard conformance suite for ``connector`` as a pytest test class.

    Assign the result to a module-level name that starts with ``Test`` and pytest runs it.

    Args:
        connector: the connector class.
        config: settings for the test instance (``base_url`` is always pointed at the fake
            provider; required settings you leave out get sample values from the schema).
        credential: what ``auth login`` would store (a token string or a credential mapping).
        params: parameters per action id, where the samples built from the schema do not fit.
        routes: replies of the fake provider by ``(method, path)``; everything else is ``200 {}``.
        probe_action: the read action used to check error mapping (default: the first one that
            sends a request).

    Returns:
        A test class; its tests need only pytest's ``tmp_path`` fixture.

    Example:
        >>> # tests/test_conformance.py
        >>> from cuervo_fabric.testing import connector_test_class
        >>> from cuervo_fabric_acme.connector import AcmeConnector  # doctest: +SKIP
        >>> TestAcmeConformance = connector_test_class(AcmeConnector)  # doctest: +SKIP
    """
    import pytest

    overrides = dict(config or {})
    given_params = {k: dict(v) for k, v in (params or {}).items()}
    scripted = dict(routes or {})
    cid = connector.id
    state: dict[str, Any] = {}
    counter = itertools.count()

    def params_for(action_id: str) -> dict[str, Any]:
        if action_id in given_params:
            return given_params[action_id]
        decl = connector.declarations()[action_id]
        return sample_params(decl.params_schema())

    def provider(fallback: Reply) -> LoopbackServer:
        server = LoopbackServer()
        for (method, path), reply in scripted.items():
            server.route(method, path, reply)
        server.fallback = fallback
        return server

    def harness(tmp_path: Path) -> FabricHarness:
        return FabricHarness(tmp_path / f"fabric-{next(counter)}", connectors={cid: connector})

    def install(fabric: FabricHarness, server: LoopbackServer) -> Any:
        return fabric.install(cid, sample_config(connector, server.url, overrides), credential=credential)

    def probe(tmp_path: Path) -> str | None:
        if probe_action is not None:
            return probe_action
        if "probe" in state:
            return state["probe"]  # type: ignore[no-any-return]
        decls = connector.declarations()
        order = [d for d in decls.values() if not d.streaming and not d.mutating]
        order += [d for d in decls.values() if not d.streaming and d.mutating]
        found: str | None = None
        for decl in order:
            with provider(Reply(200, {})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                fabric.exec(inst, decl.id, params_for(decl.id), no_cache=True)
                if server.requests:
                    found = decl.id
                    break
        state["probe"] = found
        return found

    class ConnectorConformance:
        """The standard conformance suite (generated by ``connector_test_class``)."""

        connector_class = connector

        # ---------------------------------------------------------------- static
        def test_metadata_complete(self) -> None:
            """Id, version and metadata (name, description, vendor, category, links) are complete."""
            _fail_on(connector, ("class", "metadata"))

        def test_config_schema_valid(self) -> None:
            """The config schema is valid JSON Schema (meta-schema), with valid defaults and auth types."""
            _fail_on(connector, ("config_schema", "auth"))

        def test_every_capability_has_a_handler(self) -> None:
            """Every declared capability resolves to a callable handler; none is mutating and cached."""
            _fail_on(connector, ("capabilities",))

        def test_params_schemas_valid(self) -> None:
            """Every params schema is a valid JSON Schema object (dict or pydantic model)."""
            _fail_on(connector, ("params",))

        def test_permissions_declared(self) -> None:
            """The connector declares the permissions it needs, each described."""
            _fail_on(connector, ("permissions",))

        def test_sample_params_validate(self) -> None:
            """Parameters built from each schema pass the gateway's validation (and the pydantic model)."""
            from cuervo_fabric.domain.schema import validate

            for action_id, decl in connector.declarations().items():
                schema = decl.params_schema()
                if schema is None:
                    continue
                values = validate(schema, params_for(action_id))
                if decl.params_model is not None:
                    decl.params_model.model_validate(values)

        # ---------------------------------------------------------------- through the pipeline
        def test_installs_with_sample_config(self, tmp_path: Path) -> None:
            """An instance installs with the sample settings and becomes active."""
            with provider(Reply(200, {})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                assert fabric.instance(inst.id).status.value == "active"
                assert inst.connector_id == cid

        def test_health_check_works(self, tmp_path: Path) -> None:
            """The health check runs through the pipeline: healthy when the provider answers."""
            with provider(Reply(200, {})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                result = fabric.health(inst)
                assert result.success, result.error
                assert result.data["status"] in ("healthy", "degraded"), result.data

        def test_health_check_reports_rejected_credentials(self, tmp_path: Path) -> None:
            """A provider that answers 401 makes the health check unhealthy with authValid false."""
            with provider(Reply(401, {"message": "Bad credentials"})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                result = fabric.health(inst)
                if not server.requests:
                    pytest.skip("the health check sends no request to the provider")
                assert result.success, result.error
                assert result.data["status"] == "unhealthy", result.data
                assert result.data["details"]["authValid"] is False, result.data

        def test_unknown_action_is_reported(self, tmp_path: Path) -> None:
            """An undeclared action fails with UNKNOWN_ACTION and sends nothing."""
            with provider(Reply(200, {})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                result = fabric.exec(inst, "conformance.no-such-action")
                assert not result.success
                assert (result.error or {}).get("code") == "UNKNOWN_ACTION", result.error
                assert server.requests == []

        def test_invalid_params_rejected_before_any_request(self, tmp_path: Path) -> None:
            """Missing required parameters fail with INVALID_INPUT before any request is sent."""
            checked = 0
            with provider(Reply(200, {})) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                for action_id, decl in connector.declarations().items():
                    schema = decl.params_schema() or {}
                    if not schema.get("required"):
                        continue
                    result = fabric.exec(inst, action_id, {})
                    assert not result.success, f"{action_id} accepted empty params"
                    assert (result.error or {}).get("code") == "INVALID_INPUT", (action_id, result.error)
                    checked += 1
                assert server.requests == [], "a request was sent despite invalid parameters"
            if not checked:
                pytest.skip("no action has required parameters")

        @pytest.mark.parametrize(("case", "reply", "code"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
        def test_errors_map_to_codes(self, tmp_path: Path, case: str, reply: Reply, code: str) -> None:
            """Provider failures (401, 403, 404, 429, 5xx, dropped, timeout) map to the stable codes."""
            action_id = probe(tmp_path)
            if action_id is None:
                pytest.skip("no action sends a request; pass probe_action=")
            with provider(reply) as server, harness(tmp_path) as fabric:
                inst = install(fabric, server)
                timeout = 0.4 if case == "timeout" else 30.0
                result = fabric.exec(inst, action_id, params_for(action_id), timeout_s=timeout, no_cache=True)
                assert server.requests, f"{action_id} sent no request"
                assert not result.success, f"{action_id} succeeded although the provider answered {case}"
                assert (result.error or {}).get("code") == code, result.error

        def test_webhooks_verify(self) -> None:
            """A declared webhook verifier accepts its own signature and rejects tampering."""
            if not connector.receives_webhooks:
                pytest.skip("the connector receives no webhooks")
            _fail_on(connector, ("webhooks",))
            from cuervo_fabric.sdk import IncomingWebhook, WebhookSignatureError

            verifier = connector.webhook.verifier
            secret = verifier.generate_secret()
            body = verifier.prepare_body(b'{"action": "opened", "conformance": true}')
            headers = verifier.sign(secret, body)
            verifier.verify(secret, IncomingWebhook.build(headers, body))
            fixed = {"timestamp": 1_700_000_000, "webhook_id": "msg_conformance"}
            if verifier.sign(secret, body, **fixed) != verifier.sign(secret, body + b" ", **fixed):
                # The scheme signs the body (GitLab's shared token does not), so tampering must fail.
                with pytest.raises(WebhookSignatureError):
                    verifier.verify(secret, IncomingWebhook.build(headers, body + b" "))
            with pytest.raises(WebhookSignatureError):
                verifier.verify(verifier.generate_secret(), IncomingWebhook.build(headers, body))

    ConnectorConformance.__name__ = f"Test{connector.__name__}Conformance"
    ConnectorConformance.__qualname__ = ConnectorConformance.__name__
    return ConnectorConformance
