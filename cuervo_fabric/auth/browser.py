"""Opening the user's browser, only where one can open.

``BROWSER`` wins (as in Python's ``webbrowser``: commands separated by ``os.pathsep``, ``%s`` is the
URL, else the URL is appended), even on a headless machine: that is how scripts and tests drive a
login. Otherwise a browser is tried only with a desktop: macOS or Windows outside an SSH session,
or Linux with ``DISPLAY``/``WAYLAND_DISPLAY``. Browsers run detached, with no access to our
terminal, so ``--json`` output stays one document.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

__all__ = ["can_open_browser", "open_browser"]


def _browser_commands() -> list[str]:
    return [c for c in os.environ.get("BROWSER", "").split(os.pathsep) if c.strip()]


def can_open_browser() -> bool:
    """Whether ``open_browser`` has a chance: ``BROWSER`` is set, or there is a desktop."""
    if _browser_commands():
        return True
    over_ssh = bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))
    if sys.platform in ("darwin", "win32"):
        return not over_ssh
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_browser(url: str) -> bool:
    """Open ``url``; ``True`` when a browser process was started."""
    commands = _browser_commands()
    for command in commands:
        try:
            parts = shlex.split(command)
        except ValueError:
            continue
        if not parts:
            continue
        args = [p.replace("%s", url) for p in parts] if "%s" in command else [*parts, url]
        try:
            subprocess.Popen(  # noqa: S603 - the user's own BROWSER command, no shell
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            continue
        return True
    if commands or not can_open_browser():
        return False
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
