"""The gateway: every connector call runs through one composable pipeline.

A stage is a middleware, ``Handler -> Handler`` (Starlette's shape, made synchronous because each
CLI call is one short process). ``bootstrap.py`` sets the order once.
"""
