"""The generic ``http`` connector: any REST API, any auth type, one action: ``request``."""
