"""Payouts: every prediction pays out exactly its price, with documented negative-value rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.errors import InvalidDataError, InvalidParameterError
from assay.payouts import aggregate_payouts, payouts, provider_totals, split_price


def test_clip_pays_helpful_points_in_proportion_to_value() -> None:
    paid, rule = split_price([0.3, 0.1, -0.2, 0.0], 10.0)
    np.testing.assert_allclose(paid, [7.5, 2.5, 0.0, 0.0])
    assert rule == "clip"


def test_signed_is_the_papers_formula() -> None:
    v = np.array([0.3, 0.1, -0.2])
    paid, rule = split_price(v, 10.0, "signed")
    np.testing.assert_allclose(paid, v / v.sum() * 10.0)  # c_i = phi_i / sum_j phi_j * c
    assert rule == "signed" and paid[2] < 0


@pytest.mark.parametrize("negative", ["clip", "signed"])
def test_payouts_sum_to_the_price_for_random_values(negative: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.normal(size=rng.integers(1, 30))
        price = float(rng.uniform(0, 100))
        paid, _ = split_price(v, price, negative)
        assert paid.sum() == pytest.approx(price, rel=1e-12, abs=1e-12)


def test_nothing_to_split_by_falls_back_to_an_equal_split() -> None:
    paid, rule = split_price([-0.1, -0.3, 0.0], 9.0)
    np.testing.assert_allclose(paid, [3.0, 3.0, 3.0])
    assert rule == "equal"
    paid, rule = split_price([0.1, -0.3], 4.0, "signed")
    np.testing.assert_allclose(paid, [2.0, 2.0])
    assert rule == "equal"


def test_tidy_table_points_and_providers() -> None:
    values = np.array([[0.4, 0.1, -0.1, 0.2], [0.0, 0.5, 0.5, -0.2]])
    table = payouts(values, [10.0, 2.0], ids=["a", "b", "c", "d"], providers=["p", "p", "q", "r"])
    assert list(table.columns) == [
        "prediction",
        "payee",
        "provider",
        "value",
        "share",
        "payout",
        "rule",
    ]
    assert len(table) == 8
    sums = table.groupby("prediction")["payout"].sum()
    np.testing.assert_allclose(sums, [10.0, 2.0])
    np.testing.assert_allclose(table["share"], table["payout"] / np.repeat([10.0, 2.0], 4))
    per = provider_totals(table)
    first = per[per.prediction == 0].set_index("provider")["payout"]
    np.testing.assert_allclose(first[["p", "q", "r"]], [10 * 5 / 7, 0.0, 10 * 2 / 7])
    # provider level: values are summed first, so a provider's harmful point offsets its others
    by_provider = payouts(values, 10.0, providers=["p", "p", "q", "q"], level="provider")
    assert set(by_provider["payee"]) == {"p", "q"}
    row = by_provider[by_provider.prediction == 1].set_index("payee")
    np.testing.assert_allclose(row.loc[["p", "q"], "value"], [0.5, 0.3])
    np.testing.assert_allclose(row.loc[["p", "q"], "payout"], [6.25, 3.75])


def test_aggregation_over_predictions() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 6))
    providers = np.array(["x", "x", "y", "y", "z", "z"])
    table = payouts(values, 2.0, providers=providers)
    totals = aggregate_payouts(table)
    assert set(totals["provider"]) == {"x", "y", "z"}
    assert totals["payout_total"].sum() == pytest.approx(100.0)
    assert totals["revenue_share"].sum() == pytest.approx(1.0)
    assert totals["payout_total"].is_monotonic_decreasing
    expected = table.groupby("provider")["payout"].sum()
    np.testing.assert_allclose(
        totals.set_index("provider").loc[expected.index, "payout_total"], expected
    )
    assert (totals["payout_mean"] * 50).tolist() == pytest.approx(totals["payout_total"].tolist())


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="price"):
        split_price([1.0], -1.0)
    with pytest.raises(InvalidParameterError, match="negative"):
        split_price([1.0], 1.0, "zero")
    with pytest.raises(InvalidDataError, match="non-finite"):
        split_price([np.nan, 1.0], 1.0)
    with pytest.raises(InvalidDataError, match="shape"):
        payouts(np.ones((2, 3)), [1.0, 2.0, 3.0])
    with pytest.raises(InvalidDataError, match="providers"):
        payouts(np.ones(3), 1.0, providers=["a"])
    with pytest.raises(InvalidDataError, match="payout table"):
        aggregate_payouts(pd.DataFrame({"x": [1]}))
