"""Global options of one CLI call, set by the root callback."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cuervo_fabric.bootstrap import Fabric

__all__ = ["State", "state"]


@dataclass(slots=True)
class State:
    json: bool = False
    tenant: str | None = None
    profile: str | None = None
    no_input: bool = False
    verbose: bool = False
    _fabric: Fabric | None = None

    @property
    def interactive(self) -> bool:
        """Prompts are allowed: no --no-input, stdin is a terminal and CI is not set."""
        return not self.no_input and sys.stdin.isatty() and not os.environ.get("CI")

    def fabric(self, **kwargs: object) -> Fabric:
        if self._fabric is None:
            from cuervo_fabric.bootstrap import Fabric
            from cuervo_fabric.config import load_settings

            settings = load_settings(profile=self.profile, tenant=self.tenant)
            self._fabric = Fabric(settings, **kwargs)  # type: ignore[arg-type]
        return self._fabric

    def close(self) -> None:
        if self._fabric is not None:
            self._fabric.close()
            self._fabric = None


#: The one State of this process (a CLI call is one process).
state = State()
