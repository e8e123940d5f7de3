"""How the pages write figures."""

from service.factsheets.text import month_abbr, month_name, number, percent, sector_name


def test_percentages_have_the_newsletters_one_decimal():
    assert percent(0.2404) == "24.0%"
    assert percent(-0.0412) == "-4.1%"
    assert percent(0.00133, 2) == "0.13%"
    assert percent(None) == "–"


def test_a_figure_that_rounds_to_zero_has_no_sign():
    assert percent(-0.00004) == "0.0%"
    assert number(-0.004) == "0.00"


def test_months_and_sectors_read_as_words():
    assert month_name("2024-09") == "September 2024"
    assert month_abbr("2024-09") == "Sep 2024"
    assert sector_name("ig_corp_short") == "IG corporate short"
    assert sector_name("new_sector") == "New sector"
