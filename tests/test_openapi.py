"""openapi.yaml is generated from the code, current, the app's own, and a valid OpenAPI
document."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from openapi_spec_validator import validate

from service.cli.main import main

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.yaml"


def test_openapi_yaml_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"
    result = CliRunner().invoke(main, ["openapi", "write", "--format=yaml", str(generated)])
    assert result.exit_code == 0, result.output
    assert generated.read_text() == DOCUMENT.read_text(), (
        "openapi.yaml is stale: run 'plusalpha openapi write --format=yaml openapi.yaml'"
    )


def test_the_app_serves_the_document_of_openapi_yaml(client_app):
    # plusalpha openapi generates it from the API's resources alone (create_api_app)
    served = client_app.get("/v1/openapi.json").get_json()
    assert served == yaml.safe_load(DOCUMENT.read_text())


def test_openapi_yaml_is_valid():
    validate(yaml.safe_load(DOCUMENT.read_text()))


def test_docs_page_is_served_without_the_internet(client_app):
    page = client_app.get("/v1/docs").get_data(as_text=True)
    assert "https://" not in page and "http://" not in page
    assert client_app.get("/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
