"""The ``plusalpha`` console script (``main``) and its commands, one module per kind: the
engine's (``engine``) and operations' (``operations``)."""
