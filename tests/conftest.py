"""Shared fixtures: the app and CLI runner (flaskr's shape) and the sample universe."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.engine.backtest import run_backtests
from service.engine.data import MarketData
from service.engine.sample import sample_data


@pytest.fixture
def app():
    return create_app({"TESTING": True, "DATA_DIR": None})


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def client_app(app):
    return app.test_client()


@pytest.fixture(scope="session")
def sample():
    """The generated sample universe (deterministic; built once per session)."""
    return sample_data()


@pytest.fixture(scope="session")
def backtests(sample):
    """Every model's backtest on the sample universe."""
    return run_backtests(sample)


@pytest.fixture(scope="session")
def small_sample(sample):
    """The sample cut to its real-ticker ETFs and the indices: quick to backtest."""
    keep = sample.securities.index[~sample.securities["name"].str.startswith("Synthetic")]
    return MarketData(sample.securities.loc[keep], sample.prices[keep], sample.metadata)


@pytest.fixture(scope="session")
def small_backtests(small_sample):
    return run_backtests(small_sample)
