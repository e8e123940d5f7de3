"""Licensees' variants: recorded by the API and the CLI, built by RQ jobs of the worker.

:func:`create_variant` checks a request and records the variant (``building``) with its
definition; ``service.worker.handles.queue_variant_builds`` queues its build.
:func:`build_variants`, the RQ job, backtests variants from January 2016 strictly out of sample,
exactly as the nine are backtested (one risk model and one signal per month, shared by every
variant of the job), records every monthly version the ledger lacks (a recorded month is
skipped, so a killed build is finished by the next and no month is recorded twice), publishes
them and renders the fact sheet, then marks each ``ready`` (or ``failed`` with the reason). One
variant failing does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace

from ..engine.backtest import Backtest, rebalance_dates, run_backtests
from ..engine.data import MarketData
from ..engine.models import MODELS
from ..engine.performance import assemble_table, last_complete_month, truncate
from ..engine.provenance import data_hashes
from ..engine.variants import (
    Customization,
    FieldError,
    VariantError,
    derive_spec,
    spec_from_definition,
)
from ..factsheets.build import factsheet_bodies
from ..ledger import (
    add_variant,
    get_definition,
    get_shelf,
    get_variant,
    live_variant_count,
    new_variant_id,
    set_variant_status,
    worker_as_of_dates,
)
from ..publishing import definition_document, market_data
from .handles import Handles, handles
from .jobs import (
    document_body,
    json_rows,
    model_documents,
    publish_missing,
    record_backtest,
    store_documents,
)

CUSTOMIZATION_FIELDS = (
    "exclude_tickers",
    "exclude_sectors",
    "substitutions",
    "shelf",
    "risk_multiplier",
    "max_position",
    "max_sector",
    "annual_fee",
)

log = logging.getLogger(__name__)


def create_variant(
    session, data: MarketData, request: Mapping, *, tenant: str, created_by: str | None, limit: int
):
    """Record the variant ``request`` asks for (``building``); VariantError naming each field
    at fault, DuplicateVariant when a live variant of the tenant is the same model. The
    caller checks the key may read the base model, and commits."""
    base = MODELS.get(request["base_model"])
    if base is None:
        known = ", ".join(MODELS)
        raise VariantError([FieldError("base_model", f"Must be one of the nine: {known}.")])
    settings = {
        name: request[name]
        for name in CUSTOMIZATION_FIELDS
        if request.get(name) not in (None, "", [], {})  # a fee of 0 is a setting
    }
    shelf_tickers = None
    if "shelf" in settings:
        shelf = get_shelf(session, settings["shelf"])
        if shelf is None:
            raise VariantError([FieldError("shelf", f"No shelf {settings['shelf']!r}.")])
        shelf_tickers = list(shelf.tickers)
    if live_variant_count(session, tenant) >= limit:
        problem = f"{tenant} has {limit} variants, the most a tenant may have."
        raise VariantError([FieldError("tenant", problem)])
    customization = Customization(
        exclude_tickers=tuple(settings.get("exclude_tickers", ())),
        exclude_sectors=tuple(settings.get("exclude_sectors", ())),
        substitutions=dict(settings.get("substitutions", {})),
        shelf=shelf_tickers,
        risk_multiplier=settings.get("risk_multiplier"),
        max_position=settings.get("max_position"),
        max_sector=settings.get("max_sector"),
        annual_fee=settings.get("annual_fee"),
    )
    spec = derive_spec(base, customization, data, variant_id=base.id, name=request["name"])
    while True:  # another writer may take the id between choosing and recording it
        variant_id = new_variant_id(session, base.id, tenant, request["name"])
        variant = add_variant(
            session,
            variant_id=variant_id,
            tenant=tenant,
            base_model=base.id,
            name=request["name"],
            settings=settings,
            definition=definition_document(replace(spec, id=variant_id)),
            created_by=created_by,
        )
        if variant is not None:
            return variant


def build_variants(variant_ids: Iterable[str], h: Handles | None = None) -> dict[str, str]:
    """The RQ job: build the variants; each one's status afterwards, by id.

    A retired or failed variant, or one that no longer exists, is skipped.
    """
    h = h or handles()
    data = market_data(h.data_dir)
    dates = {day.date() for day in rebalance_dates(data.prices)}
    with h.sessions() as session:
        specs = []
        for variant_id in variant_ids:
            variant = get_variant(session, variant_id)
            if variant is None or variant.retired_at is not None or variant.status == "failed":
                continue
            if variant.status == "ready" and dates <= worker_as_of_dates(session, variant_id):
                continue  # built already: every month of the data is recorded
            specs.append(spec_from_definition(get_definition(session, variant_id).definition))
    statuses = {}
    hashes = data_hashes(data, rebalance_dates(data.prices))
    try:
        backtests = run_backtests(data, specs) if specs else {}
    except ValueError:  # one variant's failure: build each on its own to find it
        backtests = None
    for spec in specs:
        try:
            backtest = backtests[spec.id] if backtests else run_backtests(data, [spec])[spec.id]
            statuses[spec.id] = finish(h, data, spec.id, backtest, hashes)
        except Exception as error:  # noqa: BLE001 (a variant's failure is recorded, not raised)
            log.exception("variant %s failed", spec.id)
            statuses[spec.id] = fail(h, spec.id, str(error))
    return statuses


def finish(h: Handles, data: MarketData, variant_id: str, backtest: Backtest, hashes=None) -> str:
    """Record the months the ledger lacks, publish them and the figures; mark it ready.

    The months are committed in one transaction, before anything is published: a build killed
    before the commit recorded nothing, one killed after it is published by the next
    (``publish_missing``), and only then is the variant ``ready``.
    """
    hashes = hashes or data_hashes(data, rebalance_dates(data.prices))
    with h.sessions() as session:
        record_backtest(session, variant_id, backtest, hashes)
        session.commit()
        publish_missing(h, session, variant_id)
    as_of = last_complete_month(data)
    built = {variant_id: backtest}
    rows = json_rows(assemble_table(truncate(data, as_of), built, as_of))
    bodies = {n: document_body(d) for n, d in model_documents(rows, as_of, built).items()}
    bodies.update(factsheet_bodies(data, built, {"as_of": str(as_of), "rows": rows}))
    store_documents(h.redis, bodies)
    minimum = [r.date.date().isoformat() for r in backtest.rebalances if r.status == "min_variance"]
    notes = {
        "months": len(backtest.rebalances),
        "min_variance_months": len(minimum),
        "risk_target": (
            f"not met in {len(minimum)} of {len(backtest.rebalances)} months (first "
            f"{minimum[0]}): built as minimum variance then"
            if minimum
            else "met every month"
        ),
    }
    with h.sessions() as session:
        set_variant_status(session, variant_id, "ready", notes=notes)
        session.commit()
    return "ready"


def fail(h: Handles, variant_id: str, error: str) -> str:
    with h.sessions() as session:
        set_variant_status(session, variant_id, "failed", error=error)
        session.commit()
    return "failed"
