"""The commands that only read the ledger (or change what is in it) create none: where there is
none they say where they looked and which setting points elsewhere, and exit 1. Those that add
to it create it. On a SQLite file and on PostgreSQL (an empty database: no ledger tables)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, make_url

from service.cli.main import main
from service.config import VARIABLES
from service.ledger.database import make_engine
from tests.ledger.conftest import ledger_url, postgres_unreachable, postgres_url

__all__ = ["ledger_url", "postgres_unreachable"]  # fixtures of tests/ledger, used here

READING_COMMANDS = [
    ["variants", "list"],
    ["variants", "retire", "agg-plus-baseline.acme-mine"],
    ["shelves", "list"],
    ["keys", "revoke", "key_none"],
    ["keys", "rotate", "key_none"],
    ["cache", "rebuild"],
    ["reproduce", "agg-plus-baseline", "1"],
    ["trades", "agg-plus-baseline", "--account", "account.csv"],
]


def plusalpha(args: list[str], **environ: str):
    """The console script's command with none of our settings but ``environ``."""
    env = {name: None for name in VARIABLES} | environ
    return CliRunner().invoke(main, args, env=env)


def ledger_tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", READING_COMMANDS, ids=" ".join)
def test_a_command_that_reads_finds_no_ledger_and_creates_none(
    args, ledger_url, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "account.csv").write_text("ticker,quantity\nAGG,10\n")
    result = plusalpha(args, DATABASE_URL=ledger_url, PLUSALPHA_VAR_DIR="var")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "no ledger at " in output
    assert "creates none. DATABASE_URL names it: set DATABASE_URL" in output
    if ledger_url.startswith("sqlite"):
        path = Path(ledger_url.removeprefix("sqlite:///"))
        assert f"no ledger at {path} (no such file)" in output
        assert not path.parent.exists()
    else:
        assert "(the database has no ledger tables)" in output
        assert ledger_tables(ledger_url) == []
    assert not (tmp_path / "var").exists()


def test_variants_list_outside_the_clone_says_where_it_looked(tmp_path):
    """The console script, run from a directory that holds no service, on the defaults."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("plusalpha")), "variants", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    error = " ".join(result.stderr.split())
    assert f"no ledger at {tmp_path / 'var' / 'plusalpha.db'} (no such file)" in error
    assert "PLUSALPHA_VAR_DIR (var, relative to the working directory)" in error
    assert "set PLUSALPHA_VAR_DIR to the service's var dir, or DATABASE_URL to its ledger" in error
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_adds_creates_the_ledger_that_the_others_then_read(
    ledger_url, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    settings = {"DATABASE_URL": ledger_url, "PLUSALPHA_VAR_DIR": str(tmp_path / "var")}
    created = plusalpha(["keys", "create", "--name", "ops", "--scope", "models:read"], **settings)
    assert created.exit_code == 0, created.output
    listed = plusalpha(["variants", "list"], **settings)
    assert (listed.exit_code, listed.output) == (0, "")
    retired = plusalpha(["variants", "retire", "agg-plus-baseline.acme-mine"], **settings)
    assert retired.output == "Error: no variant 'agg-plus-baseline.acme-mine'\n"


def test_a_postgresql_database_that_does_not_exist_holds_no_ledger(
    postgres_unreachable, tmp_path, monkeypatch
):
    if postgres_unreachable:
        pytest.skip(postgres_unreachable)
    monkeypatch.chdir(tmp_path)
    url = make_url(postgres_url()).set(database="plusalpha_no_such_ledger", password="secret")
    result = plusalpha(["variants", "list"], DATABASE_URL=url.render_as_string(False))
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"no ledger at {url.render_as_string()} (cannot open it: " in output
    assert 'database "plusalpha_no_such_ledger" does not exist' in output
    assert "secret" not in output
