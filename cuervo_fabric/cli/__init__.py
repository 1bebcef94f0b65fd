"""The command-line interface. Commands are thin: parse, call a service, render.

Importing this package must stay cheap (shell completion re-runs the program on every TAB):
heavy modules are imported inside commands. ``tests/cli/test_imports.py`` pins that.
"""
