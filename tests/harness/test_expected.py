from __future__ import annotations

import pytest

from reproducers.harness.declarations import ExpectedRow
from reproducers.harness.errors import UserError
from reproducers.harness.expected import load_expected, passes, tolerance_for

GOOD = """
[[row]]
reproduction = "x"
metric = "acc@1"
value = 57.14
direction = "higher"
kind = "paper"
source = "Table 2"
"""


def write(tmp_path, text):
    p = tmp_path / "expected.toml"
    p.write_text(text)
    return p


def test_loads_valid_rows(tmp_path):
    rows = load_expected(write(tmp_path, GOOD))
    assert rows == [ExpectedRow("x", "acc@1", 57.14, "higher", None, "paper", "Table 2")]


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (('source = "Table 2"', ""), "row 1: missing source"),
        (('source = "Table 2"', 'source = "  "'), "row 1: source is empty"),
        (('metric = "acc@1"', 'metric = "acc1"'), "unknown metric 'acc1'"),
        (('direction = "higher"', 'direction = "lower"'), "contradicts acc@1"),
        (('kind = "paper"', 'kind = "blog"'), "kind must be one of"),
        (('value = 57.14', 'value = "57"'), "value must be a number"),
        (('kind = "paper"', 'kind = "paper"\ncolour = 1'), "unknown keys ['colour']"),
    ],
)
def test_schema_errors_name_file_and_row(tmp_path, mutation, message):
    path = write(tmp_path, GOOD.replace(*mutation))
    with pytest.raises(UserError) as err:
        load_expected(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_duplicate_row_is_an_error(tmp_path):
    path = write(tmp_path, GOOD + GOOD)
    with pytest.raises(UserError, match=r"row 2 duplicates row 1 \(x acc@1 kind=paper\)"):
        load_expected(path)


def test_non_proportion_needs_explicit_tolerance(tmp_path):
    text = GOOD.replace('"acc@1"', '"mse"').replace('"higher"', '"lower"')
    with pytest.raises(UserError, match="mse is not a proportion"):
        load_expected(write(tmp_path, text))


def test_invalid_toml_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not valid TOML"):
        load_expected(write(tmp_path, "[[row]\n"))


def test_binomial_tolerance():
    row = ExpectedRow("x", "acc@1", 50.0, "higher", None, "paper", "s")
    # 2 * 100 * sqrt(0.25 / 100) = 10 points
    assert tolerance_for(row, 100) == pytest.approx(10.0)
    # large eval set: the 0.3-point floor applies
    assert tolerance_for(row, 10_000_000) == 0.3
    assert tolerance_for(row, None) is None
    explicit = ExpectedRow("x", "mse", 0.26, "lower", 0.03, "paper", "s")
    assert tolerance_for(explicit, 5) == 0.03


def test_direction_semantics():
    hi = ExpectedRow("x", "acc@1", 50.0, "higher", 1.0, "paper", "s")
    assert passes(hi, 49.0, 1.0) and passes(hi, 70.0, 1.0) and not passes(hi, 48.9, 1.0)
    lo = ExpectedRow("x", "mse", 0.26, "lower", 0.03, "paper", "s")
    assert passes(lo, 0.29, 0.03) and passes(lo, 0.1, 0.03) and not passes(lo, 0.2901, 0.03)


def test_every_declared_paper_table_is_valid():
    from reproducers.harness.registry import discover

    reps = discover()
    assert reps, "no reproduction discovered"
    claimed = {c.b for rep in reps.values() for c in rep.claims}  # an ablation's table: a claim
    # a chained stage (another reproduction starts from it) is checked through the final one
    stages = {getattr(rep.init, "reproduction", None) for rep in reps.values()}
    for rep in reps.values():
        assert rep.expected or rep.name in claimed | stages, \
            f"{rep.name} declares no expected rows"
        assert all(row.source for row in rep.expected)
        assert all(c.source for c in rep.claims)


def test_rows_of_several_datasets_and_unavailable_rows(tmp_path):
    """Rows may differ only by dataset; an unavailable row is NOT RUN with its reason."""
    from reproducers.harness.check import NOT_RUN, check_row

    text = GOOD + GOOD.replace('source = "Table 2"', 'source = "Table 3"\ndataset = "K400"\n'
                               'unavailable = "code never released"')
    rows = load_expected(write(tmp_path, text))
    assert [r.dataset for r in rows] == ["", "K400"]
    assert rows[1].unavailable == "code never released"
    with pytest.raises(UserError, match="duplicates row 1"):
        load_expected(write(tmp_path, GOOD + GOOD))

    class Rep:
        name = "x"

        class paper:
            key = "p"

    res = check_row(Rep, rows[1], tmp_path / "records")
    assert res.status == NOT_RUN and res.reason == "K400: code never released"
