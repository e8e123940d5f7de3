"""``python -m service.cache serve|wait VAR_DIR``: run the embedded Redis of a var dir, or wait
until it answers (what ``scripts/run`` does; see :mod:`service.cache.embedded`)."""

import sys

from .embedded import serve, wait_for_server

COMMANDS = {"serve": serve, "wait": wait_for_server}

if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
    sys.exit("usage: python -m service.cache serve|wait VAR_DIR")
sys.exit(COMMANDS[sys.argv[1]](sys.argv[2]))
