"""Variants of the nine models: what a licensee's customization makes, and what it is refused."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.backtest import run_backtests
from service.engine.models import MODELS
from service.engine.sample import SCHWAB_ETFS
from service.engine.variants import (
    Customization,
    VariantError,
    derive_spec,
    spec_from_definition,
)

BASELINE = MODELS["agg-plus-baseline"]


def derive(sample, base=BASELINE, **changes):
    return derive_spec(base, Customization(**changes), sample, variant_id="v.test", name="Test")


def refusal(sample, base=BASELINE, **changes) -> dict[str, str]:
    with pytest.raises(VariantError) as caught:
        derive(sample, base, **changes)
    return {e.field: e.message for e in caught.value.errors}


def test_nothing_customized_is_the_base_model_by_name(sample):
    spec = derive(sample)
    assert spec.id == "v.test" and spec.benchmark == "AGG"
    assert list(spec.universe.tickers) == sorted(BASELINE.universe.select(sample.securities))
    assert (spec.risk_multiplier, spec.max_position, spec.max_sector, spec.annual_fee) == (
        1.0,
        0.10,
        0.35,
        0.004,
    )


def test_exclusions_substitutions_and_numbers_are_applied(sample):
    spec = derive(
        sample,
        exclude_tickers=("HYG", "JNK"),
        exclude_sectors=("em_local",),
        substitutions={"AGG": "SWAGX"},
        risk_multiplier=0.8,
        max_position=0.2,
        annual_fee=0.002,
    )
    tickers = set(spec.universe.tickers)
    assert not {"HYG", "JNK", "AGG"} & tickers and "SWAGX" in tickers
    assert not (sample.securities.loc[list(tickers), "sector"] == "em_local").any()
    assert (spec.risk_multiplier, spec.max_position, spec.annual_fee) == (0.8, 0.2, 0.002)
    assert spec.benchmark == "AGG"  # the risk target is still the base model's benchmark


def test_a_shelf_is_the_whole_universe(sample):
    spec = derive(sample, shelf=SCHWAB_ETFS, max_position=0.3)
    assert set(spec.universe.tickers) == set(SCHWAB_ETFS)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"exclude_tickers": ("HYG", "NOPE")}, "exclude_tickers[1]", "'NOPE' is not in the data."),
        ({"exclude_sectors": ("crypto",)}, "exclude_sectors[0]", "'crypto' is not a sector."),
        ({"substitutions": {"AGG": "NOPE"}}, "substitutions.AGG", "'NOPE' is not in the data."),
        (
            {"exclude_tickers": ("AGG",), "substitutions": {"AGG": "BND"}},
            "substitutions.AGG",
            "AGG is both excluded and substituted.",
        ),
        ({"risk_multiplier": 3.5}, "risk_multiplier", "Must be from 0.25 to 3.0, not 3.5."),
        ({"risk_multiplier": 0.2}, "risk_multiplier", "Must be from 0.25 to 3.0, not 0.2."),
        (
            {"shelf": SCHWAB_ETFS, "max_position": 0.1},
            "max_position",
            "9 ETFs at most 10% each cannot make 100%.",
        ),
        (
            {"shelf": ("SCHZ", "SCHO")},
            "shelf",
            None,  # the first rebalance cannot hold two at 10%: said below
        ),
    ],
)
def test_bad_customizations_name_their_field(sample, changes, field, message):
    errors = refusal(sample, **changes)
    assert field in errors or (field == "shelf" and "max_position" in errors), errors
    if message:
        assert errors[field] == message


def test_a_universe_emptied_by_exclusions_is_refused(sample):
    everything = tuple(sorted(set(sample.securities["sector"])))
    assert refusal(sample, exclude_sectors=everything) == {
        "exclude_sectors": "Leaves the universe empty."
    }


def test_caps_the_first_rebalance_cannot_meet_are_refused_with_its_date(sample):
    # Of the nine, SCHQ, SCHI and SCHJ start in 2019 and SCYB, SCMB later: four at 25% at most.
    errors = refusal(sample, shelf=SCHWAB_ETFS, max_position=0.2)
    assert errors == {
        "max_position": "On 2015-12-31, the first rebalance, 4 ETFs at most 20% each cannot "
        "make 100%."
    }


def test_caps_of_the_trend_rule_are_refused(sample):
    errors = refusal(sample, MODELS["active-ig-benchmark"], max_position=0.5)
    assert errors == {
        "max_position": "active-ig-benchmark follows the trend rule, which has no caps."
    }


def test_a_variant_is_backtested_as_the_nine_and_a_lower_risk_is_less_volatile(small_sample):
    base = MODELS["agg-plus-baseline"]
    spec = derive_spec(
        base,
        Customization(exclude_tickers=("HYG", "JNK"), risk_multiplier=0.8),
        small_sample,
        variant_id="agg-plus-baseline.t-low",
        name="Low",
    )
    backtests = run_backtests(small_sample, [base, spec])
    variant = backtests[spec.id]
    assert all(not {"HYG", "JNK"} & set(r.weights.index) for r in variant.rebalances)
    assert variant.returns.std() < backtests[base.id].returns.std()
    assert all(np.isclose(r.weights.sum(), 1) for r in variant.rebalances)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_a_published_definition_gives_back_its_spec(sample, model_id):
    from service.ledger.repository import as_json_document
    from service.publishing import definition_document

    for spec in (MODELS[model_id], derive(sample, exclude_tickers=("HYG",))):
        stored = as_json_document(definition_document(spec))
        assert spec_from_definition(stored) == spec
