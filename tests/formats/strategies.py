"""Hypothesis strategies shared by the format tests: weight vectors and model documents."""

from __future__ import annotations

import string

from hypothesis import strategies as st

# Weights before normalisation: ordinary, tiny (round to 0.00%), and repeated values (exact
# ties of the remainders, broken by ticker).
raw_weight = st.one_of(
    st.floats(min_value=1e-4, max_value=1.0),
    st.floats(min_value=1e-12, max_value=1e-4),
    st.sampled_from([1.0, 0.5, 1 / 3, 1e-6, 2.5e-5, 5e-5]),
)

tickers = st.text(alphabet=string.ascii_uppercase + string.digits + ".", min_size=1, max_size=6)


@st.composite
def weight_vectors(draw, min_size: int = 1, max_size: int = 450) -> dict[str, float]:
    """1 to 450 positive float weights, normalised (in floating point) to sum to 1."""
    raw = draw(st.lists(raw_weight, min_size=min_size, max_size=max_size))
    names = draw(st.lists(tickers, min_size=len(raw), max_size=len(raw), unique=True))
    total = sum(raw)
    weights = {name: w / total for name, w in zip(names, raw, strict=True)}
    assert all(w > 0 for w in weights.values())
    return weights


def make_document(weights: dict[str, float], **fields) -> dict:
    """A published model document holding ``weights`` (listed in ticker order)."""
    document = {
        "model_id": "agg-plus-baseline",
        "name": "AGG+ Baseline",
        "description": "The primary model.",
        "version": 12,
        "as_of": "2024-09-30",
        "effective_date": "2024-10-01",
        "hash": "0" * 64,
        "weights": [
            {"ticker": t, "name": f"{t} ETF", "sector": "aggregate", "weight": weights[t]}
            for t in sorted(weights)
        ],
    }
    document.update(fields)
    return document


@st.composite
def documents(draw, max_size: int = 450) -> dict:
    return make_document(draw(weight_vectors(max_size=max_size)))
