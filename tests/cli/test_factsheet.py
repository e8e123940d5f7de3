"""``plusalpha factsheet``: a model's fact sheet from a data directory, as HTML or PDF."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from pypdf import PdfReader

from service.engine.data import MarketData, write_data
from service.engine.performance import truncate


@pytest.fixture(scope="module")
def data_dir(small_sample, tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("factsheet-data")
    short = truncate(small_sample, pd.Period("2018-12", "M"))
    listed = short.prices.columns[short.prices.notna().any()]  # the series that began by then
    write_data(
        MarketData(short.securities.loc[listed], short.prices[listed], short.metadata), directory
    )
    return str(directory)


def test_writes_a_pdf_of_at_most_two_pages(runner, data_dir, tmp_path):
    output = tmp_path / "f.pdf"
    args = ["factsheet", "agg-plus-baseline", "--format", "pdf", "--output", str(output)]
    result = runner.invoke(args=[*args, "--data", data_dir])
    assert result.exit_code == 0, result.output
    pdf = PdfReader(io.BytesIO(output.read_bytes()))
    assert 1 <= len(pdf.pages) <= 2
    assert "AGG+ Baseline" in pdf.pages[0].extract_text()
    assert not list(tmp_path.glob("*.partial"))


def test_an_earlier_month_as_a_standalone_html_page(runner, data_dir):
    args = ["factsheet", "hy-plus-baseline", "--as-of", "2017-06", "--data", data_dir]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "<style>" in result.output and "As of June 2017" in result.output
    assert "/assets/" not in result.output  # nothing to fetch: the file stands alone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-model"], "no model 'no-such-model'"),
        (["agg-plus-baseline", "--as-of", "2015-06"], "outside the data"),
        (["agg-plus-baseline", "--as-of", "2019-01"], "outside the data"),
        (["agg-plus-baseline", "--as-of", "June"], "YYYY-MM"),
    ],
)
def test_a_bad_model_or_month_is_refused_naming_it(runner, data_dir, args, message):
    result = runner.invoke(args=["factsheet", *args, "--data", data_dir])
    assert result.exit_code == 2 and message in result.output
