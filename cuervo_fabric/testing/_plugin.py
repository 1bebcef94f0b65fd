"""The pytest plugin of ``cuervo_fabric.testing`` (registered through the ``pytest11`` entry point).

Fixtures: ``mock_provider`` (strict, verified at teardown), ``fake_clock``, ``fabric_harness`` (a
real fabric in ``tmp_path``) and ``cassette`` (record/replay). Option: ``--cuervo-record`` records
every cassette again from the real provider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.testing._clock import FakeClock
from cuervo_fabric.testing._harness import FabricHarness
from cuervo_fabric.testing._mock import MockProvider
from cuervo_fabric.testing._recording import Cassette

__all__ = [
    "cassette",
    "fabric_harness",
    "fake_clock",
    "mock_provider",
    "pytest_addoption",
    "pytest_runtest_makereport",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--cuervo-record``."""
    group = parser.getgroup("cuervo-fabric")
    group.addoption(
        "--cuervo-record",
        action="store_true",
        default=False,
        help="cuervo-fabric: record every cassette again from the real provider (needs credentials)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether the test body failed, so teardown verification does not pile on."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def mock_provider(request: pytest.FixtureRequest) -> Iterator[MockProvider]:
    """A started strict ``MockProvider``; unmet expectations or unexpected requests fail the test.

    Example:
        >>> def test_lists(mock_provider, fabric_harness):  # doctest: +SKIP
        ...     mock_provider.expect("GET", "/items", Reply(200, []))
    """
    provider = MockProvider().start()
    try:
        yield provider
        if not request.node.stash.get(_FAILED, False):
            provider.verify()
    finally:
        provider.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A ``FakeClock`` at a fixed time.

    Example:
        >>> def test_polls(fake_clock):  # doctest: +SKIP
        ...     poll_until(read, done, clock=fake_clock)
    """
    return FakeClock()


@pytest.fixture
def fabric_harness(tmp_path: Path) -> Iterator[FabricHarness]:
    """A real fabric in ``tmp_path`` with the installed connectors (entry points).

    Example:
        >>> def test_exec(fabric_harness, mock_provider):  # doctest: +SKIP
        ...     inst = fabric_harness.install("acme", {"base_url": mock_provider.url})
    """
    with FabricHarness(tmp_path / "fabric") as harness:
        yield harness


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Callable[..., Cassette]]:
    """A factory of started cassettes stored in ``cassettes/`` beside the test file.

    ``cassette(name, upstream=URL, secrets=[...])`` records when the file is missing, with
    ``--cuervo-record`` or ``CUERVO_FABRIC_RECORD=1``, and replays (strictly) otherwise.

    Example:
        >>> def test_repos(cassette, fabric_harness):  # doctest: +SKIP
        ...     tape = cassette("repos", upstream="https://api.github.com")
    """
    opened: list[Cassette] = []
    folder = Path(str(request.node.path)).parent / "cassettes"
    force = bool(request.config.getoption("--cuervo-record", default=False))

    def make(name: str, *, upstream: str | None = None, secrets: Sequence[str] = ()) -> Cassette:
        tape = Cassette(
            folder / f"{name}.json", upstream=upstream, record=True if force else None, secrets=secrets
        )
        tape.__enter__()
        opened.append(tape)
        return tape

    yield make
    failed = request.node.stash.get(_FAILED, False)
    for tape in opened:
        tape.__exit__(AssertionError if failed else None, None, None)
