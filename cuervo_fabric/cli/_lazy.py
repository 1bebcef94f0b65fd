"""Start-up: build a command group only when it is used.

Typer turns every command of every group into a click command, with its parameters, on every
call: most of the CLI's start-up after imports. ``run`` builds the root with its own commands and
one stand-in per group; a group is built when the command line reaches it (or completion asks
for it). The root's ``--help`` lists the groups from their stand-ins without building them.
Tests run ``app`` itself (fully built), so both paths are exercised.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from cuervo_fabric.cli._app import FabricGroup

__all__ = ["lazy_command", "run"]


class LazyRootGroup(FabricGroup):
    """The root group: its sub-groups are ``TyperInfo`` until first used."""

    lazy: dict[str, Any]
    typer_app: typer.Typer
    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is not None or cmd_name not in self.lazy:
            return command
        info = self.lazy[cmd_name]
        if self._listing:  # the root's help needs a name and a line of help, nothing more
            return TyperGroup(name=cmd_name, help=typer.main.solve_typer_info_help(info))
        command = typer.main.get_group_from_info(
            info,
            pretty_exceptions_short=self.typer_app.pretty_exceptions_short,
            rich_markup_mode=self.typer_app.rich_markup_mode,
            suggest_commands=self.typer_app.suggest_commands,
        )
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_command(app: typer.Typer) -> LazyRootGroup:
    """The click root of ``app`` with lazily built sub-groups."""
    shallow = copy.copy(app)
    shallow.registered_groups = []
    shallow.info = copy.copy(app.info)
    shallow.info.cls = LazyRootGroup
    root = typer.main.get_command(shallow)
    assert isinstance(root, LazyRootGroup)
    root.lazy = {info.name: info for info in app.registered_groups if info.name}
    root.typer_app = app
    return root


def run(app: typer.Typer, **kwargs: Any) -> Any:
    """What ``app(**kwargs)`` does, with the lazy root."""
    if sys.excepthook != typer.main.except_hook:
        sys.excepthook = typer.main.except_hook
    return lazy_command(app)(**kwargs)
