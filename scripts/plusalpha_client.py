"""What push_rebalance.py and pull_weights.py share: options, session, retries, errors.

Standard library and requests only; copy this file along with the script that uses it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from email.utils import parsedate_to_datetime

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
#: Answers worth trying again: rate limited, or a proxy or the service briefly unavailable.
RETRY_STATUSES = {429, 502, 503, 504}
#: Failures where the request may not have arrived, or its answer was lost on the way back.
RETRY_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
MAX_DELAY = 60.0


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=os.environ.get("PLUSALPHA_URL") or DEFAULT_URL,
        help=f"the API's address (default: $PLUSALPHA_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("PLUSALPHA_KEY"),
        help="the API key, pa_live_... (default: $PLUSALPHA_KEY)",
    )
    parser.add_argument("--retries", type=int, default=5, help="retries after the first try")
    parser.add_argument(
        "--backoff", type=float, default=0.5, help="first retry delay in seconds, then doubled"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")


def session_for(parser: argparse.ArgumentParser, args: argparse.Namespace) -> requests.Session:
    if not args.key:
        parser.error("an API key is required: --key or PLUSALPHA_KEY")
    if args.retries < 0 or args.backoff < 0 or args.timeout <= 0:
        parser.error("--retries and --backoff must not be negative, --timeout must be positive")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.key}"
    return session


def retry_after(response: requests.Response) -> float | None:
    """The server's Retry-After in seconds (a number or an HTTP date), if it gave one."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def send(session: requests.Session, method: str, url: str, args, **kwargs):
    """The answer to the request, tried again on transient failures with jittered backoff.

    Never retries another status: a 4xx will not change by asking again. None (after saying
    why on stderr) when the last try still got no answer.
    """
    for attempt in range(args.retries + 1):
        try:
            response = session.request(method, url, timeout=args.timeout, **kwargs)
        except RETRY_ERRORS as error:
            response, problem, wait = None, f"{type(error).__name__}: {error}", None
        else:
            if response.status_code not in RETRY_STATUSES:
                return response
            problem, wait = f"HTTP {response.status_code}", retry_after(response)
        if attempt == args.retries:
            break
        if wait is None:  # exponential backoff with jitter, so clients do not retry in step
            wait = args.backoff * 2**attempt * random.uniform(0.5, 1.0)
        wait = min(wait, MAX_DELAY)
        print(f"{problem}; retry {attempt + 1}/{args.retries} in {wait:.2f}s", file=sys.stderr)
        time.sleep(wait)
    if response is None:
        print(f"giving up after {args.retries + 1} tries: {problem}", file=sys.stderr)
    return response


def report(response: requests.Response) -> None:
    """Print the problem+json answer (title, detail and the fields at fault) to stderr."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    title = problem.get("title") or response.reason
    detail = problem.get("detail") or response.text[:500]
    print(f"HTTP {response.status_code} {title}: {detail}", file=sys.stderr)
    for error in problem.get("errors") or []:
        where = f"{error.get('in')} " if error.get("in") else ""
        print(f"  {where}{error.get('field')}: {error.get('message')}", file=sys.stderr)
