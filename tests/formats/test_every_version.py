"""Every version of every model, as the worker records and publishes it, in the platform formats.

The versions are the monthly rebalances of the nine models' backtests on the sample universe's
real-ticker ETFs (2016 to 2024), written to a SQLite ledger and rendered by the publishing code,
exactly as ``plusalpha worker`` does. The performance documents of the same backtests are
scanned too: no number in any of these answers is floating point's residue (issue 22).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from schemas.models import RebalanceDetailSchema
from service.engine.models import MODELS
from service.ledger import get_definition, list_rebalances, make_engine, session_factory, upgrade
from service.publishing import labels_of, publish_definitions, rendered_bodies, weights_document
from service.worker.jobs import performance_documents, record_backtest

from .test_render import ORION_SECURITY_KEYS, TWO_DECIMALS, read_csv, read_orion

IREBAL_TOTAL = Decimal("100.00")
NOISE = 1e-12
"""No number of an answer is closer than this to zero without being zero."""


@pytest.fixture(scope="module")
def published(small_sample, small_backtests, tmp_path_factory):
    """(model_id, version, bodies by format, its rebalance answer) of every recorded version."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
    upgrade(engine)
    bodies = []
    labels = labels_of(small_sample.securities)
    with session_factory(engine)() as session:
        publish_definitions(session)
        for model_id, backtest in small_backtests.items():
            record_backtest(session, model_id, backtest)
        session.commit()
        for model_id in MODELS:
            definition = get_definition(session, model_id)
            for row in list_rebalances(session, model_id, limit=None):
                document = weights_document(definition, row, labels)
                answer = RebalanceDetailSchema().dump(row)  # GET .../rebalances/{version}
                bodies.append((model_id, row.version, rendered_bodies(document), answer))
    engine.dispose()
    return bodies


def test_every_model_has_its_monthly_versions(published, small_backtests):
    counts = {model_id: 0 for model_id in MODELS}
    for model_id, *_ in published:
        counts[model_id] += 1
    assert counts == {m: len(backtest.rebalances) for m, backtest in small_backtests.items()}
    assert min(counts.values()) > 100


def test_every_irebal_file_sums_to_exactly_100(published):
    for model_id, version, bodies, _ in published:
        rows = read_csv(bodies["irebal"].decode())
        assert rows[0] == ["Symbol", "Target %"], (model_id, version)
        percents = [Decimal(percent) for _, percent in rows[1:]]
        assert all(TWO_DECIMALS.fullmatch(percent) for _, percent in rows[1:]), (model_id, version)
        assert sum(percents) == IREBAL_TOTAL, (model_id, version, sum(percents))
        assert rows[-1][0] == "$CASH", (model_id, version)


def test_every_orion_document_has_every_field(published):
    for model_id, version, bodies, _ in published:
        orion = read_orion(bodies["orion"].decode())
        assert {"name", "description"} <= set(orion), (model_id, version)
        assert orion["securities"], (model_id, version)
        for security in orion["securities"]:
            assert list(security) == ORION_SECURITY_KEYS, (model_id, version)
            lower, target, upper = (
                security["lowerModelTolerancePercent"],
                security["targetPercent"],
                security["upperModelTolerancePercent"],
            )
            assert 0 <= lower <= target <= upper <= 100, (model_id, version, security)
        total = sum(security["targetPercent"] for security in orion["securities"])
        assert total == IREBAL_TOTAL, (model_id, version, total)


def numbers(value) -> list[float]:
    """Every number of a JSON value."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    return []


def body_numbers(fmt: str, body: bytes) -> list[float]:
    """Every number of a weights body: the JSON ones, or a CSV's weight or percent column."""
    text = body.decode()
    if fmt in ("json", "orion"):
        return numbers(json.loads(text))
    return [float(row[1]) for row in read_csv(text)[1:]]


def residue(values: list[float]) -> list[float]:
    return [value for value in values if 0 < abs(value) < NOISE]


def test_no_weight_in_any_format_is_floating_point_residue(published):
    """The sample's backtests record a few weights of some 1e-17 (SRLN, IGSB): positions of
    nothing, which no format shows; every other holding is shown, at full precision in json and
    csv; nor does the version's rebalance answer."""
    shown = 0
    for model_id, version, bodies, answer in published:
        assert residue(numbers(answer)) == [], (model_id, version, "rebalance")
        for fmt, body in bodies.items():
            found = residue(body_numbers(fmt, body))
            assert found == [], (model_id, version, fmt, found)
        weights = json.loads(bodies["json"])["weights"]
        csv_weights = [float(w) for _, w in read_csv(bodies["csv"].decode())[1:]]
        assert csv_weights == [h["weight"] for h in weights]
        assert abs(sum(csv_weights) - 1) < 1e-9, (model_id, version)
        shown += len(weights)
    assert shown > 1000


def test_no_figure_of_the_performance_documents_is_floating_point_residue(
    small_sample, small_backtests
):
    """The table, its monthly history (rows and each model's holdings) and each model's
    figures: the Agg Index's alpha to itself, for one, is 0 and not some 1e-17."""
    documents = performance_documents(small_sample, small_backtests)
    for name, document in documents.items():
        found = residue(numbers(document))
        assert found == [], (name, found[:5])
    agg_index = next(r for r in documents["performance"]["rows"] if r["model_id"] == "agg-index")
    assert (agg_index["alpha_agg"], agg_index["beta_agg"]) == (0.0, 1.0)
