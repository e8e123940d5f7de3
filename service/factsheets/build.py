"""A fact sheet built from the engine's figures (:func:`service.engine.factsheet.factsheet_figures`)
and rendered as served: for the worker, the on-demand renders of the API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..engine.backtest import Backtest
from ..engine.data import MarketData
from ..engine.factsheet import factsheet_figures
from ..engine.models import MODELS, PASSIVE_BENCHMARKS, ModelSpec
from ..ledger import base_model_id
from ..publishing import market_data  # noqa: F401 (the on-demand renders' data)
from . import VARIANTS, document_name
from .charts import charts
from .pages import factsheet_html, pdf

AGG_ROW = PASSIVE_BENCHMARKS["agg-index"].id


def links(model_id: str, variant: str, as_of: str | None = None) -> dict[str, str]:
    """The navigation of a fact sheet: the performance page and its own PDF."""
    if variant == "site":
        return {"home": "/", "pdf": f"/models/{model_id}.pdf"}
    month = f"&as_of={as_of}" if as_of else ""
    return {"home": f"/v1/performance?format=html{month}", "pdf": f"?format=pdf{month}"}


def render(figures: dict, fmt: str, variant: str = "site", as_of: str | None = None) -> bytes:
    """A fact sheet as served: HTML (for the site or the API) or PDF."""
    drawn = charts(figures)
    return render_drawn(figures, drawn, fmt, variant, as_of)


def render_drawn(figures, drawn, fmt: str, variant: str, as_of: str | None = None) -> bytes:
    if fmt == "pdf":
        return pdf(factsheet_html(figures, drawn, None, standalone="print"))
    if variant == "file":
        return factsheet_html(figures, drawn, None, standalone="file").encode("utf-8")
    navigation = links(figures["model_id"], variant, as_of)
    return factsheet_html(figures, drawn, navigation, pages=variant).encode()


def figures_from_rows(
    data: MarketData,
    model_id: str,
    returns: pd.Series,
    holdings: pd.Series,
    rows,
    as_of,
    spec: ModelSpec | None = None,
) -> dict:
    """The figures of a model's fact sheet from the rows of its performance table (``spec``:
    a variant's definition; one of the nine's by default)."""
    by_id = {row["model_id"]: row for row in rows}
    spec = spec or MODELS[model_id]
    figures = factsheet_figures(
        data, spec, returns, holdings, by_id[model_id], by_id[AGG_ROW], as_of
    )
    return {**figures, "name": sheet_name(spec)}


def sheet_name(spec: ModelSpec) -> str:
    """The model's name as its fact sheet writes it (title, heading, legends): a variant's
    after its base model's, ``AGG+ Baseline · Schwab shelf``, as its own name alone says
    little to a reader. The space before the dot does not break: a narrow column wraps the
    name after it."""
    base = MODELS.get(base_model_id(spec.id))
    return f"{base.name}\u00a0· {spec.name}" if base and base.id != spec.id else spec.name


def factsheet_bodies(
    data: MarketData, backtests: Mapping[str, Backtest], table: dict
) -> dict[str, bytes]:
    """Every fact sheet document of the backtests' models, from their performance table."""
    as_of = pd.Period(table["as_of"], "M")
    bodies = {}
    for model_id, backtest in backtests.items():
        holdings = backtest.rebalances[-1].weights
        figures = figures_from_rows(
            data, model_id, backtest.returns, holdings, table["rows"], as_of, backtest.model
        )
        drawn = charts(figures)
        for variant in VARIANTS:
            bodies[document_name(model_id, "html", variant)] = render_drawn(
                figures, drawn, "html", variant
            )
        bodies[document_name(model_id, "pdf")] = render_drawn(figures, drawn, "pdf", "site")
    return bodies
