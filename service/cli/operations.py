"""Operations commands: ``plusalpha worker``, ``cache rebuild``, ``keys`` and ``trades``.

They print no setting as it is: a ``REDIS_URL`` or ``DATABASE_URL`` may carry a password (a
missing ledger's URL is shown with ``***`` for it: :mod:`service.cli.handles`).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path

import click

from ..api.scopes import SCOPES
from ..engine.models import BAND_TYPES, MODELS, MODES
from ..formats import CASH
from .engine import show_progress
from .handles import app_handles, existing_ledger_handles
from .settings import settings

# The rest is imported in the commands that use it, not here: every ``plusalpha`` command loads
# this module (``--help`` too), and the ledger, the HTTP layer, the worker's jobs and the engine
# they run take from a fraction of a second to seconds to import.

cache_cli = click.Group("cache", help="The Redis serving cache.")
keys_cli = click.Group("keys", help="API keys.")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run what is due now and exit.")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="With --once, say what it does and show the backtests' progress on standard error. "
    "Default: when standard error is a terminal.",
)
def worker_command(once: bool, burst: bool, progress: bool | None) -> None:
    """Run the rebalance worker: the months that are due, then after every month end; and
    deliver webhooks (not with --once or --burst: events wait in the outbox for a worker)."""
    from ..worker.handles import QUEUE
    from ..worker.jobs import run_due, scheduled_run

    h = app_handles()
    if once:
        from ..worker.handles import buildable_variant_ids
        from ..worker.variants import build_variants

        progress = show_progress() if progress is None else progress
        added = run_due(h, progress=progress, queue_variants=False)
        for model_id, versions in added.items():
            click.echo(f"{model_id}: {len(versions)} new version(s)")
        for variant_id, status in build_variants(buildable_variant_ids(h), h).items():
            click.echo(f"{variant_id}: {status}")
        return
    from rq import Queue

    from ..worker.figures import MeasuredWorker
    from ..worker.loop import work
    from ..worker.webhooks import run_dispatcher

    prepare_work_horses()
    if burst:
        MeasuredWorker([Queue(QUEUE, connection=h.redis)], connection=h.redis).work(burst=True)
        return
    run_dispatcher()  # the webhooks outbox, polled beside the jobs, Redis up or down
    work(h, first=scheduled_run)  # through any Redis outage, until asked to stop


def prepare_work_horses() -> None:
    """Import what the jobs use, and load the compiled solver, in an RQ worker before it forks
    a work horse for each job: each job then starts with them instead of spending about two
    seconds of CPU on them. The data is not loaded here: each job reads it afresh, so that a
    monthly run sees the prices imported since the worker started."""
    import matplotlib.figure  # noqa: F401 (the fact sheets' charts)
    import weasyprint  # noqa: F401 (the fact sheets' PDF)

    from ..engine.optimize import compile_solver
    from ..worker import variants  # noqa: F401 (and the jobs it imports)

    compile_solver()


@cache_cli.command("rebuild")
def cache_rebuild() -> None:
    """Refill the cache from the ledger."""
    from ..worker.jobs import rebuild_cache

    click.echo(f"published {rebuild_cache(existing_ledger_handles())} version(s) from the ledger")


@keys_cli.command("demo")
def keys_demo() -> None:
    """Print the demo key kept under the var dir, creating it when missing or revoked."""
    from ..ledger import create_key, key_for_secret

    path = Path(settings()["VAR_DIR"]) / "demo-key"
    with app_handles().sessions() as session:
        secret = path.read_text().strip() if path.exists() else ""
        key = key_for_secret(session, secret) if secret else None
        if key is None or key.revoked_at is not None:
            _, secret = create_key(
                session, name="demo", tenant="demo", scopes=["models:read", "performance:read"]
            )
            session.commit()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secret)
            path.chmod(0o600)
    click.echo(secret)


@keys_cli.command("create")
@click.option("--name", required=True, help="Who the key is for.")
@click.option("--tenant", default="plusalpha", show_default=True)
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Choice(list(MODELS)),
    help="A licensed model (repeat); all models when none is given.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    help="Requests per rate-limit window; PLUSALPHA_RATE_LIMIT when not given.",
)
def keys_create(
    name: str, tenant: str, scopes: tuple, models: tuple, rate_limit: int | None
) -> None:
    """Create a key and print its secret, once."""
    from ..ledger import create_key

    with app_handles().sessions() as session:
        key, secret = create_key(
            session,
            name=name,
            tenant=tenant,
            scopes=list(scopes),
            models=list(models) or None,
            rate_limit=rate_limit,
        )
        session.commit()
        click.echo(f"key {key.id} ({key.name}): {secret}")


@keys_cli.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once (as DELETE /v1/keys/KEY_ID does)."""
    from ..api.auth import revoke

    h = existing_ledger_handles()
    with h.sessions() as session:
        key = revoke(session, h.redis, key_id, actor=None)
        if key is None:
            raise click.ClickException(f"no key {key_id!r}")
        click.echo(f"key {key.id} ({key.name}) revoked at {key.revoked_at.isoformat()}")


@keys_cli.command("rotate")
@click.argument("key_id")
def keys_rotate(key_id: str) -> None:
    """Issue a key with KEY_ID's settings and revoke KEY_ID, at once; print the new secret once.

    As POST /v1/keys/KEY_ID/rotate does: one transaction, so one of the two secrets always works.
    """
    from ..api.auth import rotate

    h = existing_ledger_handles()
    with h.sessions() as session:
        rotated = rotate(session, h.redis, key_id, actor=None)
        if rotated is None:
            raise click.ClickException(f"no key {key_id!r} that is not revoked")
        key, secret = rotated
        click.echo(f"key {key.id} ({key.name}): {secret}")
        click.echo(f"replaces {key_id}, revoked now")


@click.command("trades")
@click.argument("model_id", type=click.Choice(list(MODELS)))
@click.option(
    "--account",
    "account_csv",
    required=True,
    type=click.File(encoding="utf-8-sig"),
    help="CSV of ticker,quantity; cash as the row $CASH,amount.",
)
@click.option("--mode", type=click.Choice(MODES), default="full", show_default=True)
@click.option("--band", type=float, help="Tolerance band (default: the model's).")
@click.option("--band-type", type=click.Choice(BAND_TYPES), help="Default: the model's.")
@click.option("--min-trade", type=float, default=0.0, show_default=True)
@click.option("--cash-target", type=float, default=0.0, show_default=True)
@click.option("--fractional", is_flag=True, help="Fractional shares (default: whole shares).")
@click.option("--restricted", multiple=True, help="A ticker never bought (repeat).")
@click.option("--locked", multiple=True, help="A ticker never traded (repeat).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def trades_command(model_id: str, account_csv, fmt: str, **options) -> None:
    """The trades that bring an account to the model's weights in force today.

    Prices are the latest closes of the configured data (or the sample). Writes the trades as
    CSV (ticker,action,quantity,amount), or the whole answer as JSON; warnings go to stderr.
    """
    from ..engine.trades import TradeInputError, model_options, rebalance
    from ..ledger import latest_rebalance
    from ..publishing import latest_closes

    holdings, cash = read_account(account_csv)
    h = existing_ledger_handles()
    with h.sessions() as session:
        row = latest_rebalance(session, model_id, date.today())
    if row is None:
        raise click.ClickException(f"{model_id} has no version in the ledger: run the worker")
    closes = latest_closes(h.data_dir)
    options = model_options(MODELS[model_id], options)
    try:
        result = rebalance(holdings, cash, closes, row.weights_by_ticker, options, known=closes)
    except TradeInputError as error:
        raise click.ClickException(str(error)) from error
    for warning in result.warnings:
        click.echo(f"warning: {warning.message}", err=True)
    if fmt == "json":
        click.echo(json.dumps({"model_id": model_id, "version": row.version, **result.as_dict()}))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["ticker", "action", "quantity", "amount"])
    for trade in result.trades:
        writer.writerow([trade.ticker, trade.action, f"{trade.quantity:g}", f"{trade.amount:.2f}"])


def read_account(file) -> tuple[list[dict], float]:
    """Holdings and cash of an account CSV (header ticker,quantity; cash as ``$CASH``).

    Tickers are read by the engine's rule: spaces around them dropped, case ignored."""
    rows = list(csv.reader(file))
    if not rows or [cell.strip().lower() for cell in rows[0]] != ["ticker", "quantity"]:
        raise click.ClickException(f"{file.name}: the header must be ticker,quantity")
    holdings, cash = [], 0.0
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            ticker, quantity = row[0].strip(), float(row[1])
        except (IndexError, ValueError) as error:
            raise click.ClickException(f"{file.name}, line {line}: {error}") from error
        if ticker.upper() == CASH:
            cash += quantity
        else:
            holdings.append({"ticker": ticker, "quantity": quantity})
    return holdings, cash


COMMANDS = (worker_command, cache_cli, keys_cli, trades_command)
