"""What an API key may do: the scopes, one per kind of work.

A module of its own, importing nothing, so that the CLI can offer them (``plusalpha keys
create --scope``) without loading the HTTP layer.
"""

SCOPES = (
    "models:read",
    "performance:read",
    "rebalances:write",
    "trades:write",
    "variants:write",
    "admin",
    "metrics:read",
    "webhooks:write",
)
