"""exec --explain traces every stage; the bench's mirror app has our command tree."""

from __future__ import annotations

from pathlib import Path

from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import install
from tests.helpers import cli


def test_explain_traces_every_stage(home: Path, server: LoopbackServer) -> None:
    """permission, cache, breaker state, tokens left, credential, each attempt and wait, outcome."""
    server.route(
        "GET",
        "/x",
        [Reply(502), Reply(200, {"ok": 1}, {"X-RateLimit-Remaining": "9", "X-RateLimit-Limit": "10"})],
    )
    install("api", server.url, "--requests-per-minute", "20", "--requests-per-hour", "100")
    result = cli("--json", "exec", "api", "request", "-p", "path=/x", "--explain").json()
    stages = [s["stage"] for s in result["explain"]]
    assert stages == [
        "permission", "cache", "circuit", "ratelimit", "credentials",
        "http", "retry", "provider-limits", "http", "observe",
    ]  # fmt: skip
    by = {s["stage"]: s for s in result["explain"]}
    assert by["circuit"] == {"stage": "circuit", "allowed": True, "state": "closed", "failures": "0/5"}
    assert by["ratelimit"]["connector/minute"] == "18/20"
    assert by["ratelimit"]["connector/hour"] == "98/100"
    assert by["credentials"]["using"] == "bearer_token"
    assert by["retry"]["reason"] == "backoff"
    assert by["provider-limits"]["default"] == "9/10"
    assert by["observe"]["status"] == "success"
    assert result["metadata"]["rateLimitRemaining"] == 9

    human = cli("exec", "api", "request", "-p", "path=/x", "--explain")
    assert human.exit_code == 0
    assert "circuit" in human.stderr
    assert "ratelimit" in human.stderr


def test_explain_shows_where_a_call_was_refused(home: Path, server: LoopbackServer) -> None:
    """A refusal ends the trace at the stage that said no."""
    install("api", server.url)
    assert cli("circuit", "open", "api", "--for", "60").exit_code == 0
    result = cli("--json", "exec", "api", "request", "-p", "path=/x", "--explain").json()
    assert [s["stage"] for s in result["explain"]] == ["permission", "cache", "circuit", "observe"]
    assert result["explain"][2]["allowed"] is False
    assert result["explain"][-1]["status"] == "refused"


def test_bench_mirror_app_has_our_commands(tmp_path: Path) -> None:
    """The --help baseline is generated from our own tree: same groups and commands."""
    import typer

    from cuervo_fabric.bench import suite_names
    from cuervo_fabric.bench.startup import mirror_source
    from cuervo_fabric.cli.main import app

    assert {"startup", "gateway"} <= set(suite_names())
    namespace: dict[str, object] = {"__name__": "mirror"}
    exec(compile(mirror_source(app), "mirror_app.py", "exec"), namespace)
    mirror = namespace["app"]
    assert isinstance(mirror, typer.Typer)

    def tree(t: typer.Typer) -> set[str]:
        names = {c.name or c.callback.__name__.replace("_", "-") for c in t.registered_commands}
        for g in t.registered_groups:
            names |= {f"{g.name} {n}" for n in tree(g.typer_instance)}
        return names

    assert tree(mirror) == tree(app)
    assert {"exec", "metrics", "bench", "circuit open", "ratelimit status", "audit list"} <= tree(app)
