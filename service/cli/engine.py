"""The engine commands of the ``plusalpha`` console script, registered by ``init_app``."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..engine.models import MODELS
from .settings import settings

if TYPE_CHECKING:
    import pandas as pd

    from ..engine.backtest import Backtest
    from ..engine.data import MarketData

# The engine, pandas and numpy are imported in the commands that use them, not here: every
# ``plusalpha`` command loads this module, and importing them takes seconds.

GROUP_TITLES = {
    "model": "Active Model Portfolios (net returns)",
    "active_benchmark": "Active Benchmark Indices",
    "passive_benchmark": "Passive Benchmark Indices",
}


def data_option(command):
    """The ``--data DIR`` option shared by every engine command."""
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (securities and prices). Default: PLUSALPHA_DATA_DIR, else the "
        "generated sample universe.",
    )(command)


def market_data(data_dir: Path | None) -> MarketData:
    """The data of ``--data``, else of the configured directory, else the sample universe."""
    from ..engine.data import DataError
    from ..engine.sample import data_or_sample

    try:
        return data_or_sample(data_dir or settings().get("DATA_DIR"))
    except DataError as error:
        raise click.ClickException(str(error)) from error


def show_progress() -> bool:
    return sys.stderr.isatty()


@click.command("sample-data")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write securities.csv, prices.csv and metadata.json into.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--etfs",
    type=click.IntRange(min=1),
    default=None,
    help="Number of ETFs, for a bigger (or smaller) universe. Default: the standard one (~430).",
)
def sample_data_command(out: Path, fmt: str, etfs: int | None) -> None:
    """Write the deterministic synthetic sample universe (not market data)."""
    from ..engine.data import write_data
    from ..engine.sample import sample_data

    try:
        data = sample_data(etfs)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    write_data(data, out, fmt=fmt)
    click.echo(
        f"wrote {len(data.securities)} series x {len(data.prices)} days of SAMPLE data to {out}"
    )


def parse_month(ctx, param, value: str | None) -> pd.Period | None:
    """A ``YYYY-MM`` option as a monthly period."""
    import pandas as pd

    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}", value):
            return pd.Period(value, "M")
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r} is not a month written YYYY-MM")


@click.command("performance")
@click.option(
    "--as-of",
    "as_of",
    callback=parse_month,
    metavar="YYYY-MM",
    help="Month of the table. Default: the last complete month of the data.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@data_option
def performance_command(as_of: pd.Period | None, fmt: str, data_dir: Path | None) -> None:
    """The performance table of the nine models and the seven passive benchmarks."""
    from ..engine.performance import last_complete_month, performance_table

    data = market_data(data_dir)
    try:
        table = performance_table(data, as_of, progress=show_progress())
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    as_of = as_of or last_complete_month(data)
    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.6f"), nl=False)
    elif fmt == "json":
        rows = json.loads(table.to_json(orient="records", double_precision=10))
        click.echo(json.dumps({"as_of": str(as_of), "rows": rows}, indent=2))
    else:
        click.echo(render_table(table, as_of, data.metadata.get("sample", False)))


def render_table(table: pd.DataFrame, as_of: pd.Period, sample: bool) -> str:
    """The table in the newsletter's layout, grouped, in percent."""
    headers = [
        "",
        as_of.strftime("%b %Y"),
        f"YTD {as_of.year}",
        "1-year",
        "3-year",
        "5-year",
        "ITD 1/2016",
        "Alpha-AGG",
        "Beta-AGG",
        "Corr-AGG",
        "Bid/Ask",
        "Pos.mo",
        "Vol",
        "Sharpe",
        "MaxDD",
        "Skew",
        "BetaVol",
        "Turnover",
    ]
    percent = ["month", "ytd", "one_year", "three_year", "five_year", "itd", "alpha_agg"]
    plain = ["beta_agg", "corr_agg"]
    tail = [
        "positive_months",
        "volatility",
        "sharpe",
        "max_drawdown",
        "skewness",
        "beta_volatility",
        "turnover",
    ]

    def cells(row) -> list[str]:
        out = [row["name"]]
        out += [_fmt(row[c], "{:.1%}") for c in percent]
        out += [_fmt(row[c], "{:.2f}") for c in plain]
        out.append(_fmt(row["bid_ask"], "{:.2%}"))
        out += [
            _fmt(row[c], f)
            for c, f in zip(
                tail,
                ["{:.0%}", "{:.1%}", "{:.2f}", "{:.1%}", "{:.2f}", "{:.2f}", "{:.2f}"],
                strict=True,
            )
        ]
        return out

    body = {
        group: [cells(r) for _, r in rows.iterrows()]
        for group, rows in table.groupby("group", sort=False)
    }
    widths = [
        max(len(h), *(len(c[i]) for rows in body.values() for c in rows))
        for i, h in enumerate(headers)
    ]

    def line(values) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    lines = [line(headers)]
    for group, rows in body.items():
        lines += ["", GROUP_TITLES[group]] + [line(r) for r in rows]
    if sample:
        lines += ["", "SAMPLE DATA: synthetic prices, not market data or actual results."]
    return "\n".join(lines)


def _fmt(value, spec: str) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "" if missing else spec.format(value)


@click.command("backtest")
@click.argument("model_id", type=click.Choice(list(MODELS)), metavar="MODEL_ID")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True
)
@data_option
def backtest_command(model_id: str, fmt: str, data_dir: Path | None) -> None:
    """Every rebalance and every monthly net return of one model."""
    from ..engine.backtest import run_backtest

    data = market_data(data_dir)
    try:
        backtest = run_backtest(data, model_id, progress=show_progress())
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if fmt == "json":
        click.echo(json.dumps(backtest_json(backtest), indent=2))
    else:
        click.echo(backtest_csv(backtest).to_csv(index=False, float_format="%.10g"), nl=False)


def backtest_json(backtest: Backtest) -> dict:
    """``{"model_id", "rebalances": [{"date", "weights"}], "returns": [{"month", "return"}]}``."""
    return {
        "model_id": backtest.model.id,
        "rebalances": [
            {"date": f"{r.date:%Y-%m-%d}", "weights": {t: float(w) for t, w in r.weights.items()}}
            for r in backtest.rebalances
        ],
        "returns": [{"month": str(m), "return": float(r)} for m, r in backtest.returns.items()],
    }


def backtest_csv(backtest: Backtest) -> pd.DataFrame:
    """One row per rebalance: its date, the month it was held, that month's net return, and the
    weight of every ticker the model ever held (0 where not held)."""
    import pandas as pd

    weights = pd.DataFrame([r.weights for r in backtest.rebalances]).fillna(0.0)
    held = [r.date.to_period("M") + 1 for r in backtest.rebalances]
    frame = pd.DataFrame(
        {
            "rebalance_date": [f"{r.date:%Y-%m-%d}" for r in backtest.rebalances],
            "month": [str(m) for m in held],
            "return": backtest.returns.reindex(pd.PeriodIndex(held, freq="M")).to_numpy(),
        }
    )
    return pd.concat([frame, weights.reset_index(drop=True)], axis=1)


@click.command("reproduce")
@click.argument("model_id", metavar="MODEL_ID")
@click.argument("version", type=click.IntRange(min=1))
@data_option
def reproduce_command(model_id: str, version: int, data_dir: Path | None) -> None:
    """Rebuild a recorded version from its recipe: exit 0 when the weights are equal bit for
    bit, else print the differences and exit 1.

    The model (one of the nine or a variant) is rebuilt from the definition the version
    recorded, on the data of --data (else the configured data); a data or engine that differs
    from the recipe's is said first.
    """
    import pandas as pd

    from ..engine.provenance import data_hashes, engine_version, rebuilt_weights, weight_differences
    from ..ledger import get_rebalance
    from .handles import existing_ledger_handles

    with existing_ledger_handles().sessions() as session:
        row = get_rebalance(session, model_id, version)
        if row is None:
            raise click.ClickException(f"{model_id} has no version {version}")
        recipe, recorded = row.provenance, row.weights_by_ticker
    if recipe is None:
        raise click.ClickException(f"{model_id} version {version} has no recipe (it was pushed)")
    data = market_data(data_dir)
    as_of = pd.Timestamp(row.as_of)
    notes = []
    if data_hashes(data, [as_of])[as_of] != recipe["data_hash"]:
        notes.append(f"the data up to {row.as_of} is not the recipe's (hash differs)")
    if engine_version() != recipe["engine_version"]:
        notes.append(f"engine {engine_version()}, the recipe's {recipe['engine_version']}")
    for note in notes:
        click.echo(f"note: {note}")
    try:
        rebuilt = rebuilt_weights(data, recipe["definition"], as_of)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    differences = weight_differences(recorded, {t: float(w) for t, w in rebuilt.items()})
    if differences:
        click.echo(f"{model_id} version {version} differs:")
        for line in differences:
            click.echo(f"  {line}")
        sys.exit(1)
    click.echo(f"{model_id} version {version}: rebuilt bit for bit ({len(recorded)} weights)")


COMMANDS = (sample_data_command, performance_command, backtest_command, reproduce_command)
