"""``MockProvider``: a strict fake of a provider's API on a real loopback server, and fault replies.

Strict the way airbyte's ``HttpMocker`` is: every expected request must come (as many times as
declared), and any request nobody expected is answered ``501`` and fails the test at ``verify()``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cuervo_fabric.testing._loopback import LoopbackServer, RecordedRequest, Reply

__all__ = [
    "Expectation",
    "MockProvider",
    "dropped_connection",
    "mock_provider",
    "rate_limited",
    "server_error",
    "slow_reply",
    "unauthorized",
]

_UNSET: Any = object()


@dataclass(eq=False)
class Expectation:
    """One expected request and the replies it gets; made by ``MockProvider.expect``.

    Attributes:
        method: the expected method.
        path: the exact path, or a compiled regular expression that must match all of it.
        replies: answered in order; the last one repeats while more calls are allowed.
        times: how many calls are expected (``None``: at least one).
        calls: the requests that matched, in order.

    Example:
        >>> exp = provider.expect("GET", "/items", Reply(200, []))  # doctest: +SKIP
        >>> exp.calls[0].query  # doctest: +SKIP
        {'per_page': ['100']}
    """

    method: str
    path: str | re.Pattern[str]
    replies: list[Reply]
    times: int | None
    query: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    json: Any = _UNSET
    form: Mapping[str, str] | None = None
    match: Callable[[RecordedRequest], bool] | None = None
    calls: list[RecordedRequest] = field(default_factory=list)

    def describe(self) -> str:
        """``GET /items?per_page=100`` and the other conditions, for failure messages."""
        path = self.path.pattern if isinstance(self.path, re.Pattern) else self.path
        parts = [f"{self.method} {path}"]
        if self.query:
            parts.append(f"query {dict(self.query)}")
        if self.headers:
            parts.append(f"headers {sorted(self.headers)}")
        if self.json is not _UNSET:
            parts.append("json body")
        if self.form:
            parts.append(f"form {dict(self.form)}")
        return ", ".join(parts)

    def matches(self, req: RecordedRequest) -> bool:
        """Whether ``req`` is this expected request (ignoring how often it came)."""
        if self.method not in ("*", req.method):
            return False
        if isinstance(self.path, re.Pattern):
            if not self.path.fullmatch(req.path):
                return False
        elif self.path != req.path:
            return False
        for key, want in (self.query or {}).items():
            got = req.query.get(key)
            wanted = [str(v) for v in want] if isinstance(want, list | tuple) else [str(want)]
            if got != wanted:
                return False
        for key, want in (self.headers or {}).items():
            if req.headers.get(key.lower()) != want:
                return False
        if self.json is not _UNSET:
            try:
                if req.json() != self.json:
                    return False
            except ValueError:
                return False
        if self.form is not None:
            got_form = req.form()
            if any(got_form.get(k) != v for k, v in self.form.items()):
                return False
        return self.match is None or self.match(req)

    @property
    def exhausted(self) -> bool:
        """No more calls are allowed."""
        return self.times is not None and len(self.calls) >= self.times

    @property
    def satisfied(self) -> bool:
        """It was called as often as declared."""
        return len(self.calls) >= 1 if self.times is None else len(self.calls) == self.times

    def reply_for(self, n: int) -> Reply:
        """The reply of the ``n``-th call (0-based)."""
        return self.replies[min(n, len(self.replies) - 1)]


class MockProvider:
    """A fake provider API with strict expectations, served by a real ``LoopbackServer``.

    Point the connector's ``base_url`` at ``url``, declare each request you expect with
    ``expect``, run the code, then ``verify()`` (the ``mock_provider`` fixture and the context
    manager verify for you). Requests are matched against expectations in the order declared; the
    first one that matches and still allows calls answers.

    Args:
        strict: fail ``verify()`` on unexpected requests (the default, and recommended).

    Example:
        >>> from cuervo_fabric.testing import MockProvider, Reply
        >>> with MockProvider() as provider:
        ...     exp = provider.expect("GET", "/user", Reply(200, {"login": "octocat"}))
        ...     import urllib.request, json
        ...     json.load(urllib.request.urlopen(provider.url + "/user"))["login"]
        'octocat'
    """

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self.expectations: list[Expectation] = []
        self.unexpected: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(handler=self._dispatch)
        self._started = False

    @property
    def url(self) -> str:
        """The provider's base URL (``http://127.0.0.1:<port>``)."""
        return self._server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, expected or not, in order."""
        return list(self._server.requests)

    def expect(
        self,
        method: str,
        path: str | re.Pattern[str],
        *replies: Reply,
        times: Any = _UNSET,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        form: Mapping[str, str] | None = None,
        match: Callable[[RecordedRequest], bool] | None = None,
    ) -> Expectation:
        """Expect a request and script its replies.

        Args:
            method: the HTTP method (``"*"``: any).
            path: the exact path, or a compiled regex matching the whole path.
            *replies: answered in order (default one ``Reply(200, {})``).
            times: how many calls (default: one per reply; ``None``: one or more).
            query: query parameters that must be present with these values.
            headers: headers that must be present with these values (names any case).
            json: the exact JSON body.
            form: form fields that must be present with these values.
            match: any other condition on the ``RecordedRequest``.

        Returns:
            The ``Expectation``; its ``calls`` hold the matching requests.

        Example:
            >>> provider.expect("POST", "/issues", Reply(201, {"number": 7}),  # doctest: +SKIP
            ...                 json={"title": "Bug"}, headers={"Authorization": "Bearer t0k"})
        """
        chosen = list(replies) or [Reply(200, {})]
        count = len(chosen) if times is _UNSET else times
        if count is not None and count < 1:
            raise ValueError("times must be at least 1 (or None for one or more)")
        exp = Expectation(
            method=method.upper(),
            path=path,
            replies=chosen,
            times=count,
            query=query,
            headers=headers,
            json=json,
            form=form,
            match=match,
        )
        with self._lock:
            self.expectations.append(exp)
        return exp

    def expect_token_refresh(
        self,
        path: str = "/oauth/token",
        *,
        access_token: str = "refreshed-access-token",  # noqa: S107 - a fake token for tests
        refresh_token: str | None = "rotated-refresh-token",  # noqa: S107 - a fake token for tests
        expires_in: int = 3600,
    ) -> Expectation:
        """Expect one OAuth2 refresh (``grant_type=refresh_token``) and answer with new tokens.

        Pair it with ``unauthorized()`` on the API call to script "401, refresh, retry".

        Example:
            >>> provider.expect("GET", "/me", unauthorized(), Reply(200, {"id": 1}))  # doctest: +SKIP
            >>> provider.expect_token_refresh("/oauth/token", access_token="new")  # doctest: +SKIP
        """
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return self.expect("POST", path, Reply(200, body), form={"grant_type": "refresh_token"})

    def _dispatch(self, req: RecordedRequest) -> Reply:
        with self._lock:
            for exp in self.expectations:
                if exp.matches(req) and not exp.exhausted:
                    exp.calls.append(req)
                    return exp.reply_for(len(exp.calls) - 1)
            self.unexpected.append(req)
        query = "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
        return Reply(
            501,
            {
                "message": f"mock provider: unexpected request {req.method} {req.path}"
                + (f"?{query}" if query else "")
            },
        )

    def problems(self) -> list[str]:
        """What ``verify()`` would complain about, one line each (empty when all is well)."""
        out: list[str] = []
        with self._lock:
            for exp in self.expectations:
                if not exp.satisfied:
                    wanted = "at least once" if exp.times is None else f"{exp.times} time(s)"
                    out.append(f"expected {exp.describe()} {wanted}, got {len(exp.calls)}")
            if self.strict:
                for req in self.unexpected:
                    query = "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
                    out.append(f"unexpected request {req.method} {req.path}" + (f"?{query}" if query else ""))
        return out

    def verify(self) -> None:
        """Fail (``AssertionError``) when an expected request never came or one nobody expected did.

        Example:
            >>> provider.verify()  # doctest: +SKIP
        """
        problems = self.problems()
        if problems:
            raise AssertionError("mock provider expectations not met:\n  " + "\n  ".join(problems))

    def start(self) -> MockProvider:
        """Start the server (``with`` and the fixture do this)."""
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self._started:
            self._server.stop()
            self._started = False

    def __enter__(self) -> MockProvider:
        return self.start()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.verify()
        finally:
            self.stop()


@contextmanager
def mock_provider(*, strict: bool = True) -> Iterator[MockProvider]:
    """A started ``MockProvider`` that is verified when the block ends without an error.

    The pytest plugin offers the same as the ``mock_provider`` fixture (verified at teardown).

    Example:
        >>> from cuervo_fabric.testing import mock_provider
        >>> with mock_provider() as provider:  # doctest: +SKIP
        ...     provider.expect("GET", "/health")
        ...     harness.health(instance)
    """
    with MockProvider(strict=strict) as provider:
        yield provider


# ---------------------------------------------------------------------------- faults
def rate_limited(retry_after_s: float | None = 1, *, headers: Mapping[str, str] | None = None) -> Reply:
    """A ``429 Too Many Requests`` reply, with ``Retry-After`` unless ``retry_after_s`` is ``None``.

    Example:
        >>> from cuervo_fabric.testing import rate_limited
        >>> rate_limited(2).headers["Retry-After"]
        '2'
    """
    out = dict(headers or {})
    if retry_after_s is not None:
        out.setdefault("Retry-After", f"{retry_after_s:g}")
    return Reply(429, {"message": "API rate limit exceeded"}, out)


def server_error(status: int = 503, message: str = "service unavailable") -> Reply:
    """A ``5xx`` reply (503 by default) that the gateway retries on idempotent requests.

    Example:
        >>> from cuervo_fabric.testing import server_error
        >>> server_error(502).status
        502
    """
    if not 500 <= status <= 599:
        raise ValueError("server_error takes a 5xx status")
    return Reply(status, {"message": message})


def unauthorized(message: str = "Bad credentials") -> Reply:
    """A ``401`` reply: the credential is wrong or expired (``AUTH_FAILED``, or a refresh).

    Example:
        >>> from cuervo_fabric.testing import unauthorized
        >>> unauthorized().status
        401
    """
    return Reply(401, {"message": message})


def slow_reply(delay_s: float, reply: Reply | None = None) -> Reply:
    """``reply`` (default ``200 {}``) after ``delay_s``: past the call's timeout it is ``TIMEOUT``.

    Example:
        >>> from cuervo_fabric.testing import slow_reply
        >>> slow_reply(2.0).delay_s
        2.0
    """
    base = reply or Reply(200, {})
    return Reply(base.status, base.body, dict(base.headers), delay_s=delay_s)


def dropped_connection() -> Reply:
    """Close the connection without answering: a network failure (``UPSTREAM_ERROR``, retryable).

    Example:
        >>> from cuervo_fabric.testing import dropped_connection
        >>> dropped_connection().drop
        True
    """
    return Reply(drop=True)
