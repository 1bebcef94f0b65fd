"""The gateway's HTTP clients keep no cookies.

One connection pool per base URL is shared by every instance (and tenant) of a process, so a
cookie a provider sets on one instance's response must never ride along with another instance's
request, and a call must not depend on earlier calls. The connector still sees ``Set-Cookie``.
"""

from __future__ import annotations

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import install


def test_a_cookie_set_for_one_instance_never_reaches_another_or_a_later_call(
    server: LoopbackServer,
) -> None:
    session = {"Set-Cookie": "session=alice-only; Path=/"}
    server.route("GET", "/login", Reply(200, {"ok": True}, headers=session))
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("alice", server.url)
    install("bob", server.url)  # the same base URL: the same pooled connection

    with Fabric() as fabric:
        first = fabric.gateway.execute("alice", "request", {"path": "/login"})
        assert first.success, first.error
        assert first.data["headers"]["set-cookie"].startswith("session=alice-only")  # the connector sees it
        for ref in ("bob", "alice", "bob"):
            result = fabric.gateway.execute(ref, "request", {"path": "/x"})
            assert result.success, result.error
    sent = server.calls("GET", "/x")
    assert len(sent) == 3
    assert all("cookie" not in {k.lower() for k in call.headers} for call in sent)
