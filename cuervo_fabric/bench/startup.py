"""Process start-up: what a script calling ``cuervo-fabric`` in a loop pays per call.

* ``cuervo-fabric --help`` against a minimal Typer app generated from our own command tree (same
  groups, commands and help texts, no code behind them): the cost of our CLI's imports and wiring.
* a cold ``cuervo-fabric exec INSTANCE request`` against
  ``python -c "import typer, httpx; httpx.get(URL)"``: the whole call (config, SQLite store, breaker,
  rate-limit tokens, decrypting the credential with AES-GCM, the request, metrics and audit row)
  against the least a Python script needs to make the same request.
"""

from __future__ import annotations

import inspect
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

from cuervo_fabric.bench import BenchOptions, Comparison, Echo
from cuervo_fabric.bench._fixture import bench_fabric, cli_argv
from cuervo_fabric.bench._stats import median, time_process

__all__ = ["TITLE", "mirror_source", "run"]

TITLE = "process start-up: --help and a cold exec against minimal baselines"

TARGET_HELP = 1.2
TARGET_EXEC = 1.5


def mirror_source(app: Any) -> str:
    """Python source of a minimal Typer app with the same tree of groups and commands as ``app``."""
    lines = ["import typer", ""]
    counter = itertools.count()

    def group(typer_app: Any, var: str, help_text: str | None) -> None:
        lines.append(
            f'{var} = typer.Typer(help={help_text!r}, no_args_is_help=True, rich_markup_mode="rich")'
        )
        for cmd in typer_app.registered_commands:
            name = cmd.name or cmd.callback.__name__.replace("_", "-")
            doc = cmd.help or inspect.getdoc(cmd.callback) or ""
            fn = f"_c{next(counter)}"
            lines.extend([f"@{var}.command({name!r})", f"def {fn}() -> None:", f"    {doc!r}", ""])
        for grp in typer_app.registered_groups:
            sub = f"_g{next(counter)}"
            group(grp.typer_instance, sub, grp.typer_instance.info.help or grp.help)
            lines.append(f"{var}.add_typer({sub}, name={grp.name!r})")

    group(app, "app", app.info.help)
    root = app.registered_callback
    if root is not None and root.callback is not None:
        params = []
        for p in inspect.signature(root.callback).parameters.values():
            params.append(f"{p.name}: bool = False" if isinstance(p.default, bool) else f"{p.name}: str = ''")
        doc = inspect.getdoc(root.callback) or ""
        lines += ["@app.callback()", f"def _root({', '.join(params)}) -> None:", f"    {doc!r}", ""]
    lines += ['if __name__ == "__main__":', '    app(prog_name="cuervo-fabric")', ""]
    return "\n".join(lines)


def _interleaved(
    ours: list[str], base: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    o: list[float] = []
    b: list[float] = []
    time_process(ours, env)  # warm the OS file cache for both
    time_process(base, env)
    for i in range(runs):
        pair = ((ours, o), (base, b)) if i % 2 == 0 else ((base, b), (ours, o))
        for argv, sink in pair:
            sink.append(time_process(argv, env))
    return o, b


def run(options: BenchOptions, echo: Echo) -> list[Comparison]:
    from cuervo_fabric.cli.main import app

    runs = 5 if options.quick else options.runs
    out: list[Comparison] = []
    with bench_fabric() as fx, tempfile.TemporaryDirectory(prefix="cuervo-fabric-bench-") as tmp:
        mirror = Path(tmp) / "mirror_app.py"
        mirror.write_text(mirror_source(app), encoding="utf-8")
        o, b = _interleaved([*cli_argv(), "--help"], [sys.executable, str(mirror), "--help"], fx.env, runs)
        echo(f"  --help: {median(o) * 1000:.1f} ms vs {median(b) * 1000:.1f} ms (median of {runs})")
        out.append(
            Comparison(
                suite="startup",
                name="cuervo-fabric --help",
                ours=median(o) * 1000,
                baseline=median(b) * 1000,
                unit="ms",
                target=TARGET_HELP,
                ours_label="cuervo-fabric --help",
                baseline_label="minimal Typer app, same commands",
                details={"runs": runs, "oursMs": [x * 1000 for x in o], "baselineMs": [x * 1000 for x in b]},
            )
        )
        url = fx.url + "/x"
        o, b = _interleaved(
            [*cli_argv(), "exec", fx.instance, "request", "-p", "path=/x"],
            [sys.executable, "-c", f"import typer, httpx; httpx.get({url!r})"],
            fx.env,
            runs,
        )
        echo(f"  cold exec: {median(o) * 1000:.1f} ms vs {median(b) * 1000:.1f} ms (median of {runs})")
        out.append(
            Comparison(
                suite="startup",
                name=f"cold exec {fx.instance} request",
                ours=median(o) * 1000,
                baseline=median(b) * 1000,
                unit="ms",
                target=TARGET_EXEC,
                ours_label="cuervo-fabric exec (new process)",
                baseline_label='python -c "import typer, httpx; httpx.get(URL)"',
                details={"runs": runs, "oursMs": [x * 1000 for x in o], "baselineMs": [x * 1000 for x in b]},
            )
        )
    return out
