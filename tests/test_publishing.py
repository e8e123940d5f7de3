"""A version's weights document: each holding named from the data's catalog."""

from __future__ import annotations

from datetime import date

from service.ledger import ModelDefinition, Rebalance
from service.publishing import labels_of, weights_document


def test_each_holding_is_named_from_the_catalog_and_an_unknown_ticker_by_itself(sample):
    catalog = sample.securities
    definition = ModelDefinition(model_id="m", name="M", description="A model.")
    weights = [["AGG", 0.5], ["HYG", 0.25], ["ZZZZ", 0.25]]
    rebalance = Rebalance(
        model_id="m",
        version=3,
        as_of=date(2024, 1, 31),
        effective_date=date(2024, 2, 1),
        content_hash="0" * 64,
        weights=weights,
    )
    document = weights_document(definition, rebalance, labels_of(catalog))
    assert document["weights"] == [
        {
            "ticker": ticker,
            "name": catalog.loc[ticker, "name"] if ticker in catalog.index else ticker,
            "sector": catalog.loc[ticker, "sector"] if ticker in catalog.index else "unknown",
            "weight": weight,
        }
        for ticker, weight in weights
    ]
    assert [type(h["name"]) for h in document["weights"]] == [str] * 3  # not Arrow scalars


def test_the_labels_are_every_series_of_the_catalog(sample):
    labels = labels_of(sample.securities)
    assert list(labels) == list(sample.securities.index)
    assert labels["AGG"] == (sample.securities.at["AGG", "name"], "aggregate")
