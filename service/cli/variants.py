"""Shelves and variants: ``plusalpha shelves import`` and ``plusalpha variants create|list|retire``.

The CLI acts for the firm: it may create a variant for any tenant, of any of the nine models.
"""

from __future__ import annotations

import csv
import json

import click

from .handles import app_handles, existing_ledger_handles
from .settings import settings

# The ledger, the engine and the worker are imported in the commands, not here (see
# ``service.cli.operations``): ``plusalpha --help`` must start fast.

shelves_cli = click.Group("shelves", help="Platform shelves: the tickers a platform offers.")
variants_cli = click.Group("variants", help="Licensees' variants of the nine models.")


def read_shelf(file, known: set[str]) -> list[str]:
    """The tickers of a shelf CSV (a ``ticker`` column), spaces dropped and case ignored as
    everywhere a client names a ticker; ClickException naming the line."""
    from marshmallow import ValidationError

    from schemas.common import Ticker

    reader = csv.DictReader(file)
    if "ticker" not in (reader.fieldnames or []):
        raise click.ClickException(f"{file.name}, line 1: no ticker column")
    tickers: list[str] = []
    symbol = Ticker()
    for row in reader:
        line = reader.line_num
        if not (row["ticker"] or "").strip():
            raise click.ClickException(f"{file.name}, line {line}: the ticker is empty")
        try:
            ticker = symbol.deserialize(row["ticker"])
        except ValidationError as error:
            raise click.ClickException(f"{file.name}, line {line}: {error.messages[0]}") from None
        if ticker not in known:
            raise click.ClickException(
                f"{file.name}, line {line}: {ticker} is not an ETF or fund of the data"
            )
        if ticker in tickers:
            raise click.ClickException(f"{file.name}, line {line}: {ticker} is listed twice")
        tickers.append(ticker)
    if not tickers:
        raise click.ClickException(f"{file.name}: the shelf lists no ticker")
    return tickers


@shelves_cli.command("import")
@click.option("--id", "shelf_id", required=True, help="The shelf's id, e.g. schwab-etfs.")
@click.option("--name", required=True, help="The shelf's name.")
@click.argument("file", type=click.File(encoding="utf-8-sig"))
def shelves_import(shelf_id: str, name: str, file) -> None:
    """Load a shelf from a CSV with a ticker column (it replaces a shelf of the same id)."""
    from ..ledger import put_shelf
    from ..publishing import securities_catalog

    catalog = securities_catalog(settings()["DATA_DIR"])
    known = set(catalog.index[catalog["kind"].isin(("etf", "fund"))])
    tickers = read_shelf(file, known)
    with app_handles().sessions() as session:
        put_shelf(session, shelf_id, name, tickers)
        session.commit()
    click.echo(f"shelf {shelf_id} ({name}): {len(tickers)} tickers")


@shelves_cli.command("list")
def shelves_list() -> None:
    """Every shelf: id, name and tickers."""
    from ..ledger import list_shelves

    with existing_ledger_handles().sessions() as session:
        for shelf in list_shelves(session):
            click.echo(f"{shelf.id}\t{shelf.name}\t{' '.join(shelf.tickers)}")


@variants_cli.command("create")
@click.option("--base", "base_model", required=True, help="One of the nine models.")
@click.option("--name", required=True)
@click.option("--tenant", required=True, help="Whose variant it is.")
@click.option("--exclude", "exclude_tickers", multiple=True, help="A ticker left out (repeat).")
@click.option("--exclude-sector", "exclude_sectors", multiple=True, help="A sector left out.")
@click.option("--substitute", "substitutions", multiple=True, help="FROM=TO (repeat).")
@click.option("--shelf", help="A shelf id: only its tickers may be held.")
@click.option("--risk-multiplier", type=float)
@click.option("--max-position", type=float)
@click.option("--max-sector", type=float)
@click.option("--annual-fee", type=float)
@click.option("--build/--no-build", default=True, help="Build it now, here (default), or queue it.")
def variants_create(build: bool, substitutions: tuple, **options) -> None:
    """Create a variant and build it (or queue its build for the RQ worker).

    Tickers are read as the API reads them: spaces dropped, case ignored."""
    from ..engine.variants import VariantError
    from ..ledger import DuplicateVariant
    from ..publishing import market_data
    from ..worker.handles import queue_variant_builds
    from ..worker.variants import build_variants, create_variant

    pairs = {}
    for pair in substitutions:
        source, _, target = pair.partition("=")
        if not source or not target:
            raise click.BadParameter(f"{pair!r} is not FROM=TO", param_hint="--substitute")
        pairs[source] = target
    request = checked_request({**options, "substitutions": pairs})
    config = settings()
    h = app_handles()
    with h.sessions() as session:
        try:
            variant = create_variant(
                session,
                market_data(config["DATA_DIR"]),
                request,
                tenant=request["tenant"],
                created_by=None,
                limit=config["MAX_VARIANTS_PER_TENANT"],
            )
        except (VariantError, DuplicateVariant) as error:
            raise click.ClickException(str(error)) from error
        session.commit()
        variant_id = variant.id
    click.echo(f"variant {variant_id}: building")
    if build:
        status = build_variants([variant_id], h)[variant_id]
        click.echo(f"variant {variant_id}: {status}")
    else:
        queue_variant_builds(h.redis, [variant_id])


def checked_request(options: dict) -> dict:
    """The options of ``variants create`` as the API's request schema reads them (tickers
    upper-cased, numbers in range); ClickException naming each field at fault."""
    from marshmallow import ValidationError

    from schemas.variants import VariantCreateSchema

    given = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    try:
        return VariantCreateSchema().load({k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(f"{name}: {problem}" for name, problem in error.messages.items())
        raise click.ClickException(problems) from None


@variants_cli.command("list")
@click.option("--tenant", help="Only this tenant's.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def variants_list(tenant: str | None, fmt: str) -> None:
    """The variants, with their tenant, base model and status."""
    from ..ledger import list_variants

    with existing_ledger_handles().sessions() as session:
        variants = list_variants(session, tenant)
        if fmt == "json":
            click.echo(json.dumps([variant_json(v) for v in variants]))
            return
        for v in variants:
            status = "retired" if v.retired_at else v.status
            click.echo(f"{v.id}\t{v.tenant}\t{v.base_model}\t{status}\t{v.error or ''}".rstrip())


def variant_json(v) -> dict:
    return {
        "id": v.id,
        "tenant": v.tenant,
        "base_model": v.base_model,
        "name": v.name,
        "status": v.status,
        "error": v.error,
        "notes": v.notes,
        "settings": v.settings,
        "retired_at": v.retired_at.isoformat() if v.retired_at else None,
    }


@variants_cli.command("retire")
@click.argument("variant_id")
def variants_retire(variant_id: str) -> None:
    """Retire a variant: no more builds, its reads answer 410, its history stays."""
    from ..ledger import retire_variant

    with existing_ledger_handles().sessions() as session:
        variant = retire_variant(session, variant_id)
        if variant is None:
            raise click.ClickException(f"no variant {variant_id!r}")
        session.commit()
        click.echo(f"variant {variant_id}: retired on {variant.retired_at:%Y-%m-%d}")


COMMANDS = (shelves_cli, variants_cli)
