#!/usr/bin/env python3
"""Pull a model's weights in force on a date, in the API's json, csv, irebal or orion format.

    python scripts/pull_weights.py MODEL_ID --format irebal --output model.csv

The body is written byte for byte as the API served it, so an iRebal or Orion import file is
exactly the published one; a file is replaced only once the whole body has arrived. Transient
failures are retried with backoff.

Exit status: 0 written, 1 refused or unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from urllib.parse import quote

from plusalpha_client import add_connection_arguments, report, send, session_for

FORMATS = ("json", "csv", "irebal", "orion")


def write_whole(path: str, body: bytes) -> None:
    """Write ``body`` to a temporary file, then move it over ``path``: never half a file."""
    partial = f"{path}.part"
    try:
        with open(partial, "wb") as file:
            file.write(body)
        os.replace(partial, path)
    except OSError as error:
        print(f"cannot write {path}: {error}", file=sys.stderr)
        sys.exit(2)


def is_weights_document(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and bool(document.get("hash"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_id")
    parser.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--output", help="the file to write (default: standard output)")
    add_connection_arguments(parser)
    args = parser.parse_args()
    session = session_for(parser, args)
    params = {"format": args.format}
    if args.as_of:
        params["as_of"] = args.as_of.isoformat()
    url = f"{args.base_url.rstrip('/')}/v1/models/{quote(args.model_id, safe='')}/weights"
    response = send(session, "GET", url, args, params=params)
    if response is None:
        sys.exit(1)
    if response.status_code != 200:
        report(response)
        sys.exit(1)
    body = response.content
    if args.format == "json" and not is_weights_document(body):
        print("the answer is not a weights document (it has no hash)", file=sys.stderr)
        sys.exit(1)
    if args.output:
        write_whole(args.output, body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
