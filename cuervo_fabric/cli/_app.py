"""The Typer group class every command group uses: one place turns errors into exit codes."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import FabricError

try:  # typer >= 0.16 vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

__all__ = ["FabricGroup", "new_app"]


_GLOBAL_FLAGS = frozenset({"--json", "--no-input", "--verbose"})
_GLOBAL_VALUED = frozenset({"--tenant", "--profile"})


def hoist_global_options(args: list[str]) -> list[str]:
    """Let global options appear after the command too (``connector list --json``).

    Only exact tokens before a ``--`` move; a value such as ``-p x=--json`` is left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            rest.extend(args[i:])
            break
        name = tok.split("=", 1)[0]
        if (i > 0 and tok in _GLOBAL_FLAGS) or (i > 0 and name in _GLOBAL_VALUED and "=" in tok):
            front.append(tok)
        elif i > 0 and tok in _GLOBAL_VALUED and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(tok)
        i += 1
    return front + rest


class FabricGroup(TyperGroup):
    """Runs a command and maps failures: FabricError -> its code; anything else -> INTERNAL."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(list(args))
        result: list[str] = super().parse_args(ctx, args)
        return result

    def invoke(self, ctx: Any) -> Any:
        from cuervo_fabric.cli import _render

        try:
            return super().invoke(ctx)
        except FabricError as exc:
            _render.error(exc.to_dict())
            if state.verbose:
                traceback.print_exc(file=sys.stderr)
            raise typer.Exit(exc.exit_code) from None
        except click_exceptions.UsageError as exc:
            if not state.json:
                raise
            _render.error({"code": "INVALID_INPUT", "message": exc.format_message(), "retryable": False})
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, click_exceptions.ClickException):
            raise
        except BrokenPipeError:
            # The reader went away (`cuervo-fabric ... | head`): stop quietly, as git does.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into INTERNAL
            message = f"unexpected {type(exc).__name__}: {exc}"
            _render.error({"code": "INTERNAL", "message": message, "retryable": False})
            if state.verbose or os.environ.get("CUERVO_FABRIC_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            else:
                sys.stderr.write("(run with --verbose for a traceback)\n")
            raise typer.Exit(1) from None
        finally:
            if ctx.parent is None:
                state.close()


def new_app(help_text: str, **kwargs: Any) -> typer.Typer:
    """A command group with our conventions."""
    return typer.Typer(
        help=help_text,
        cls=FabricGroup,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        **kwargs,
    )
