"""The public test kit for connector authors (and for cuervo-fabric's own tests).

Everything runs for real: ``LoopbackServer`` and ``MockProvider`` are HTTP servers on 127.0.0.1,
``FabricHarness`` is the fabric the CLI builds (store, vault, gateway) in a temporary folder.

- ``MockProvider`` / ``mock_provider``: a strict fake provider (every expected request must come).
- Faults: ``rate_limited``, ``server_error``, ``unauthorized``, ``slow_reply``, ``dropped_connection``.
- ``Cassette``: record a real provider once, replay with secrets scrubbed.
- ``FakeClock``: time that moves only when told.
- ``FabricHarness``: install and run a connector through the whole pipeline.
- ``connector_test_class``: the standard conformance suite as a pytest class.

It is also a pytest plugin (fixtures ``mock_provider``, ``fake_clock``, ``fabric_harness``,
``cassette``), registered when cuervo-fabric is installed.

Example:
    >>> from cuervo_fabric.testing import FabricHarness, MockProvider, Reply
    >>> with MockProvider() as api, FabricHarness(tmp_path) as fabric:  # doctest: +SKIP
    ...     api.expect("GET", "/", Reply(200, {"ok": True}))
    ...     inst = fabric.install("http", {"base_url": api.url})
    ...     fabric.exec(inst, "request", {"path": "/"}).data["body"]
    {'ok': True}
"""

from __future__ import annotations

from cuervo_fabric.testing._clock import FakeClock
from cuervo_fabric.testing._conformance import (
    connector_test_class,
    sample_config,
    sample_params,
    sample_value,
)
from cuervo_fabric.testing._harness import FabricHarness
from cuervo_fabric.testing._loopback import LoopbackServer, RecordedRequest, Reply
from cuervo_fabric.testing._mock import (
    Expectation,
    MockProvider,
    dropped_connection,
    mock_provider,
    rate_limited,
    server_error,
    slow_reply,
    unauthorized,
)
from cuervo_fabric.testing._recording import SCRUBBED, Cassette

__all__ = [
    "SCRUBBED",
    "Cassette",
    "Expectation",
    "FabricHarness",
    "FakeClock",
    "LoopbackServer",
    "MockProvider",
    "RecordedRequest",
    "Reply",
    "connector_test_class",
    "dropped_connection",
    "mock_provider",
    "rate_limited",
    "sample_config",
    "sample_params",
    "sample_value",
    "server_error",
    "slow_reply",
    "unauthorized",
]
