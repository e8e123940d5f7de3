"""Shared fixtures: the app and CLI runner (flaskr's shape) and the sample universe."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.engine.sample import sample_data


@pytest.fixture
def app():
    return create_app({"TESTING": True, "DATA_DIR": None})


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def sample():
    """The generated sample universe (deterministic; built once per session)."""
    return sample_data()
