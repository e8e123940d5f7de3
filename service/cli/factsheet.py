"""``plusalpha factsheet MODEL_ID``: a model's fact sheet, computed from the data on the spot.

The same engine and template as the worker's (``service.factsheets``): the model's backtest on
the data cut at the as-of month, its row and the Agg Index's of the performance table, then the
page; as a file the HTML carries its stylesheet. The engine and the renderers are imported when
the command runs, not when the CLI starts.
"""

from __future__ import annotations

from pathlib import Path

import click

from .engine import data_option, market_data, parse_month, show_progress


@click.command("factsheet")
@click.argument("model_id")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True
)
@click.option(
    "--as-of",
    "as_of",
    callback=parse_month,
    metavar="YYYY-MM",
    help="Month of the fact sheet. Default: the last complete month of the data.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (replaced). Default: standard output.",
)
@data_option
def factsheet_command(model_id, fmt, as_of, output: Path | None, data_dir) -> None:
    """A model's fact sheet as HTML or PDF (one page, two at most when printed)."""
    from ..engine.analytics import ITD_START
    from ..engine.backtest import run_backtest
    from ..engine.models import MODELS
    from ..engine.performance import assemble_table, last_complete_month, truncate
    from ..factsheets.build import figures_from_rows, render
    from ..worker.jobs import json_rows

    if model_id not in MODELS:
        raise click.BadParameter(f"no model {model_id!r}; one of {', '.join(MODELS)}")
    data = market_data(data_dir)
    latest = last_complete_month(data)
    as_of = as_of or latest
    if not ITD_START <= as_of <= latest:
        raise click.BadParameter(f"{as_of} is outside the data: {ITD_START} to {latest}")
    cut = truncate(data, as_of)
    backtest = run_backtest(cut, model_id, progress=show_progress())
    rows = json_rows(assemble_table(cut, {model_id: backtest}, as_of))
    holdings = backtest.rebalances[-1].weights
    figures = figures_from_rows(cut, model_id, backtest.returns, holdings, rows, as_of)
    body = render(figures, fmt, "file")
    if output is None:
        click.echo(body, nl=False)
        return
    partial = output.with_name(output.name + ".partial")
    partial.write_bytes(body)
    partial.replace(output)
    click.echo(f"wrote the {fmt} fact sheet of {model_id} as of {as_of} to {output}", err=True)


COMMANDS = (factsheet_command,)
