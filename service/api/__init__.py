"""The HTTP API, one module per resource under ``v1``."""
