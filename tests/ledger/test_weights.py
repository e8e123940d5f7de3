"""Weights: canonical form, content hash, and a bit-for-bit round trip through the database."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from service.ledger.database import session_factory
from service.ledger.repository import add_rebalance, canonical_weights, weights_hash
from service.ledger.schema import Rebalance

from .factories import FIRST_AS_OF, publish_model

AWKWARD_WEIGHTS = {
    "TLT": 0.123456789012345678,
    "AGG": 1 / 3,
    "HYG": 2 / 3,
    "LQD": 0.1,
    "EMB": 1e-17,
    "SHY": 5e-324,
    "MBB": 0.0,
}


def test_canonical_weights_are_sorted_pairs_of_floats():
    canonical = canonical_weights({"HYG": np.float64(0.25), "AGG": 0.75})
    assert canonical == [["AGG", 0.75], ["HYG", 0.25]]
    assert all(type(weight) is float for _, weight in canonical)


def test_hash_is_sha256_of_compact_canonical_json():
    expected = hashlib.sha256(b'[["AGG",0.6],["HYG",0.4]]').hexdigest()
    assert weights_hash({"HYG": 0.4, "AGG": 0.6}) == expected
    assert expected == "ccf9f25f2d98862bfb51484ba13f05d5fab3d93f4825799afe78aada73016a53"


def test_hash_ignores_order_and_numpy_types_but_not_values():
    forward = dict(AWKWARD_WEIGHTS)
    backward = dict(reversed(list(AWKWARD_WEIGHTS.items())))
    as_numpy = {ticker: np.float64(weight) for ticker, weight in AWKWARD_WEIGHTS.items()}
    assert weights_hash(forward) == weights_hash(backward) == weights_hash(as_numpy)
    nudged = dict(AWKWARD_WEIGHTS, AGG=math.nextafter(1 / 3, 1))
    assert weights_hash(nudged) != weights_hash(forward)


def test_non_finite_weights_are_refused():
    with pytest.raises(ValueError, match="finite"):
        canonical_weights({"AGG": float("nan")})


def test_weights_round_trip_bit_for_bit(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session)
        add_rebalance(
            session,
            "agg-plus-baseline",
            as_of=FIRST_AS_OF,
            effective_date=FIRST_AS_OF,
            weights=AWKWARD_WEIGHTS,
            source="worker",
        )
        session.commit()
    with make_session() as session:
        stored = session.get_one(Rebalance, 1)
        assert [ticker for ticker, _ in stored.weights] == sorted(AWKWARD_WEIGHTS)
        for ticker, weight in stored.weights:
            assert weight.hex() == AWKWARD_WEIGHTS[ticker].hex(), ticker
        assert stored.weights_by_ticker == AWKWARD_WEIGHTS
        assert stored.content_hash == weights_hash(stored.weights_by_ticker)
        assert stored.content_hash == weights_hash(AWKWARD_WEIGHTS)
