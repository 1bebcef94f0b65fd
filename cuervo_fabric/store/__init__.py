"""Store adapters: ``SqliteStore`` (the embedded default) and ``PostgresStore`` (the remote fabric)."""
