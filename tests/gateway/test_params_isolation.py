"""Each call gets its own params: a default list or object a handler changes never leaks into the
next call (the gateway remembers validated params only when they are all scalars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cuervo_fabric.sdk import BaseConnector, ConnectorCategory, ConnectorMetadata, action
from cuervo_fabric.testing import FabricHarness

LABELS = {
    "type": "object",
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}, "default": []},
        "options": {"type": "object", "default": {}},
        "n": {"type": "integer", "default": 1},
    },
}


class Mutator(BaseConnector):
    """A handler that changes the params it was given (connectors may)."""

    id = "mutator"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="Mutator", description="m", category=ConnectorCategory.CUSTOM, vendor="t"
    )
    config_schema = {"type": "object", "properties": {}}

    @action("tag", params=LABELS)
    def tag(self, params: dict[str, Any]) -> dict[str, Any]:
        params["labels"].append("seen")
        params["options"]["seen"] = True
        params["n"] += 1
        return {"labels": list(params["labels"]), "options": dict(params["options"]), "n": params["n"]}


def test_defaults_a_handler_changes_are_fresh_on_every_call(tmp_path: Path) -> None:
    with FabricHarness(tmp_path, connectors=[Mutator]) as fabric:
        inst = fabric.install("mutator", {})
        for _ in range(3):
            assert fabric.exec(inst, "tag", {}).data == {
                "labels": ["seen"],
                "options": {"seen": True},
                "n": 2,
            }
            assert fabric.exec(inst, "tag", {"n": 5}).data == {
                "labels": ["seen"],
                "options": {"seen": True},
                "n": 6,
            }
