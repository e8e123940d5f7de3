#!/usr/bin/env python3
"""Push a new version of a model from a CSV of weights.

    python scripts/push_rebalance.py MODEL_ID weights.csv --effective-date 2024-11-01

The CSV has the header ``ticker,weight`` and decimal weights summing to 1: the API's own csv
format, so a file from pull_weights.py can be pushed back. It is checked before anything is
sent. One Idempotency-Key is made per push and sent with every retry, so a retry after a lost
answer can never record a second version; give --idempotency-key to re-run a push safely.

Exit status: 0 pushed (the version is printed as JSON), 1 refused or unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import uuid
from datetime import date
from urllib.parse import quote

from plusalpha_client import add_connection_arguments, report, send, session_for


def read_weights(path: str) -> list[dict]:
    """The CSV's rows as [{"ticker", "weight"}]; exits naming the line of the first problem."""

    def bad(line: int, message: str):
        print(f"{path}, line {line}: {message}", file=sys.stderr)
        sys.exit(2)

    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        print(f"{path}: {error}", file=sys.stderr)
        sys.exit(2)
    if not rows or [cell.strip() for cell in rows[0]] != ["ticker", "weight"]:
        bad(1, f"the header must be ticker,weight, not {','.join(rows[0] if rows else [])!r}")
    weights, seen = [], set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            bad(line, f"expected 2 columns (ticker,weight), found {len(row)}")
        ticker, text = (cell.strip() for cell in row)
        if not ticker:
            bad(line, "the ticker is empty")
        if ticker in seen:
            bad(line, f"{ticker} is listed twice")
        try:
            weight = float(text)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight):
            bad(line, f"the weight of {ticker} must be a decimal number, not {text!r}")
        seen.add(ticker)
        weights.append({"ticker": ticker, "weight": weight})
    if not weights:
        bad(len(rows), "no weights")
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_id")
    parser.add_argument("weights_csv", help="a CSV with the header ticker,weight")
    parser.add_argument(
        "--effective-date", required=True, type=date.fromisoformat, help="YYYY-MM-DD"
    )
    parser.add_argument("--note", help="a note recorded with the version")
    parser.add_argument("--idempotency-key", help="reuse one to re-run a push (default: new)")
    add_connection_arguments(parser)
    args = parser.parse_args()
    session = session_for(parser, args)
    body = {
        "effective_date": args.effective_date.isoformat(),
        "weights": read_weights(args.weights_csv),
        "note": args.note,
    }
    key = args.idempotency_key or str(uuid.uuid4())  # once per push, the same on every retry
    url = f"{args.base_url.rstrip('/')}/v1/models/{quote(args.model_id, safe='')}/rebalances"
    response = send(session, "POST", url, args, json=body, headers={"Idempotency-Key": key})
    if response is not None and response.status_code == 201:
        if response.headers.get("Idempotent-Replayed") == "true":
            print("already pushed with this Idempotency-Key: no new version", file=sys.stderr)
        print(json.dumps(response.json(), indent=2))
        return
    if response is not None:
        report(response)
    if response is None or response.status_code >= 500 or response.status_code == 429:
        # The push may or may not have landed: the same key makes re-running it safe.
        print(f"re-run with --idempotency-key {key} to retry safely", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
