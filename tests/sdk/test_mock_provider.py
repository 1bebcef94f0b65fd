"""MockProvider is strict (airbyte HttpMocker): missing or unexpected requests fail, also via the plugin."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from cuervo_fabric.testing import MockProvider, Reply


def test_an_expected_request_that_never_came_fails_verify() -> None:
    """verify() names the expectation that was not met."""
    provider = MockProvider().start()
    try:
        provider.expect("GET", "/user", Reply(200, {"login": "o"}))
        with pytest.raises(AssertionError, match=r"expected GET /user 1 time\(s\), got 0"):
            provider.verify()
    finally:
        provider.stop()


def test_an_unexpected_request_gets_501_and_fails_verify() -> None:
    """A request nobody expected is answered 501 (not retried) and reported by verify()."""
    provider = MockProvider().start()
    try:
        resp = httpx.get(provider.url + "/surprise?x=1")
        assert resp.status_code == 501
        with pytest.raises(AssertionError, match=r"unexpected request GET /surprise\?x=1"):
            provider.verify()
    finally:
        provider.stop()


def test_replies_come_in_order_and_times_is_enforced() -> None:
    """Several replies answer successive calls; a call beyond `times` is unexpected."""
    with MockProvider() as provider:
        provider.expect("GET", "/n", Reply(200, {"n": 1}), Reply(200, {"n": 2}))
        assert httpx.get(provider.url + "/n").json() == {"n": 1}
        assert httpx.get(provider.url + "/n").json() == {"n": 2}
    provider = MockProvider().start()
    try:
        provider.expect("GET", "/n", Reply(200, {}))
        httpx.get(provider.url + "/n")
        assert httpx.get(provider.url + "/n").status_code == 501
        assert provider.problems() == ["unexpected request GET /n"]
    finally:
        provider.stop()


def test_matching_on_query_headers_json_form_regex_and_any_count() -> None:
    """Query, header, JSON, form and regex-path conditions all must hold; times=None means one or more."""
    with MockProvider() as provider:
        provider.expect(
            "POST",
            "/issues",
            Reply(201, {"id": 1}),
            json={"title": "Bug"},
            headers={"Authorization": "Bearer t"},
        )
        provider.expect(
            "POST", "/token", Reply(200, {"access_token": "x"}), form={"grant_type": "refresh_token"}
        )
        items = provider.expect(
            "GET", re.compile(r"/items/\d+"), Reply(200, {}), times=None, query={"full": "1"}
        )
        wrong = httpx.post(
            provider.url + "/issues", json={"title": "Other"}, headers={"Authorization": "Bearer t"}
        )
        assert wrong.status_code == 501
        assert (
            httpx.post(
                provider.url + "/issues", json={"title": "Bug"}, headers={"Authorization": "Bearer t"}
            ).status_code
            == 201
        )
        assert (
            httpx.post(
                provider.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "r"}
            ).status_code
            == 200
        )
        for n in (1, 2, 3):
            assert httpx.get(f"{provider.url}/items/{n}", params={"full": "1"}).status_code == 200
        assert len(items.calls) == 3
        provider.unexpected.clear()  # the deliberate wrong request above


def test_the_plugin_fixture_fails_a_test_whose_expectation_never_came(tmp_path: Path) -> None:
    """With the pytest plugin, a test that leaves an expected request unmade fails at teardown."""
    (tmp_path / "test_strict.py").write_text(
        textwrap.dedent(
            """
            import httpx
            from cuervo_fabric.testing import Reply

            def test_forgets_a_call(mock_provider):
                mock_provider.expect("GET", "/a", Reply(200, {}))
                mock_provider.expect("GET", "/b", Reply(200, {}))
                httpx.get(mock_provider.url + "/a")

            def test_makes_every_call(mock_provider):
                mock_provider.expect("GET", "/a", Reply(200, {}))
                assert httpx.get(mock_provider.url + "/a").status_code == 200
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ERROR test_strict.py::test_forgets_a_call" in out.stdout, out.stdout
    assert "1 error" in out.stdout
    assert "expected GET /b 1 time(s), got 0" in out.stdout
