"""``plusalpha shelves`` and ``plusalpha variants``, on a small data directory, a SQLite ledger
and an embedded Redis of the test's own."""

from __future__ import annotations

import json

import pytest

from service.app import create_app
from service.engine.data import write_data
from tests.worker.test_jobs import through_as_of


@pytest.fixture(scope="module")
def cli(small_sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-variants")
    write_data(through_as_of(small_sample), root / "data")
    settings = {"VAR_DIR": str(root / "var"), "DATABASE_URL": None, "REDIS_URL": None}
    app = create_app({"TESTING": True, **settings, "DATA_DIR": str(root / "data")})
    yield app.test_cli_runner(), root
    with app.app_context():
        from service.api.extensions import get_redis

        get_redis().shutdown(nosave=True)


def test_a_shelf_is_imported_and_a_bad_line_is_named(cli):
    runner, root = cli
    good = root / "shelf.csv"
    good.write_text("ticker,note\nSCHZ,aggregate\n schO,\nschr ,\nSCHP,\n")  # case ignored
    imported = runner.invoke(
        args=["shelves", "import", "--id", "mine", "--name", "Mine", str(good)]
    )
    assert imported.exit_code == 0, imported.output
    assert "shelf mine (Mine): 4 tickers" in imported.output
    listed = runner.invoke(args=["shelves", "list"])
    assert "mine\tMine\tSCHZ SCHO SCHR SCHP" in listed.output
    for text, problem in [
        ("ticker\nSCHZ\nNOPE\n", "line 3: NOPE is not an ETF or fund of the data"),
        ("ticker\nSCHZ\nschz\n", "line 3: SCHZ is listed twice"),
        ("ticker\nSCHZ\nSCH Z\n", "line 3: Not a ticker symbol: 'SCH Z'."),
        ("ticker\nSCHZ\n\n", None),  # a blank last line is no row
        ("symbol\nSCHZ\n", "line 1: no ticker column"),
    ]:
        bad = root / "bad.csv"
        bad.write_text(text)
        result = runner.invoke(args=["shelves", "import", "--id", "x", "--name", "X", str(bad)])
        if problem is None:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1 and f"bad.csv, {problem}" in result.output


def test_a_variant_is_created_built_listed_and_retired(cli):
    runner, _ = cli
    created = runner.invoke(
        args=["variants", "create", "--base", "agg-plus-baseline", "--name", "No HY"]
        + ["--tenant", "acme", "--exclude", "hyg", "--exclude", " JNK", "--risk-multiplier", "0.8"]
    )
    assert created.exit_code == 0, created.output
    assert "variant agg-plus-baseline.acme-no-hy: ready" in created.output
    again = runner.invoke(
        args=["variants", "create", "--base", "agg-plus-baseline", "--name", "Again"]
        + ["--tenant", "acme", "--exclude", "JNK", "--exclude", "HYG", "--risk-multiplier", "0.8"]
        + ["--no-build"]
    )
    assert again.exit_code == 1
    assert "identical to variant agg-plus-baseline.acme-no-hy" in again.output
    not_a_ticker = runner.invoke(
        args=["variants", "create", "--base", "agg-plus-baseline", "--name", "x"]
        + ["--tenant", "acme", "--exclude", "HYG", "--exclude", "H Y G"]
    )
    assert not_a_ticker.exit_code == 1
    assert "exclude_tickers: {1: [\"Not a ticker symbol: 'H Y G'.\"]}" in not_a_ticker.output
    refused = runner.invoke(
        args=[
            "variants",
            "create",
            "--base",
            "agg-plus-baseline",
            "--name",
            "x",
            "--tenant",
            "acme",
        ]
        + ["--max-position", "0.001"]
    )
    assert refused.exit_code == 1 and "max_position:" in refused.output
    listed = json.loads(runner.invoke(args=["variants", "list", "--format", "json"]).output)
    assert [(v["id"], v["status"]) for v in listed] == [("agg-plus-baseline.acme-no-hy", "ready")]
    retired = runner.invoke(args=["variants", "retire", "agg-plus-baseline.acme-no-hy"])
    assert retired.exit_code == 0, retired.output
    table = runner.invoke(args=["variants", "list"]).output
    assert "agg-plus-baseline.acme-no-hy\tacme\tagg-plus-baseline\tretired" in table
