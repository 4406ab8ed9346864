"""The Shapley-kernel sampler: the right distribution, paired complements, grouped players."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import comb
from scipy.stats import chisquare

from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain.pool import make_pool
from assay.explain.sampling import (
    SubsetSampler,
    exhaustive_kernel,
    kernel_size_probabilities,
    kernel_subset_probabilities,
    sample_kernel,
)
from assay.valuation.exact import all_subsets


def test_kernel_probabilities_are_the_papers_formula() -> None:
    n = 6
    S = all_subsets(n)
    k = S.sum(1)
    inner = (k > 0) & (k < n)
    # P(s) proportional to (n - 1) / (C(n, |s|) |s| (n - |s|)) (Eq. 1), normalised
    raw = np.where(inner, (n - 1) / (comb(n, k) * np.maximum(k, 1) * np.maximum(n - k, 1)), 0.0)
    np.testing.assert_allclose(kernel_subset_probabilities(S), raw / raw.sum())
    sizes = kernel_size_probabilities(n)
    assert sizes[0] == sizes[n] == 0 and math.isclose(sizes.sum(), 1.0)
    np.testing.assert_allclose(
        sizes[1:n],
        (1 / (np.arange(1, n) * (n - np.arange(1, n))))
        / sum(1 / (j * (n - j)) for j in range(1, n)),
    )


@pytest.mark.parametrize("paired", [False, True])
def test_every_subset_is_drawn_with_its_kernel_probability(paired: bool) -> None:
    n, draws = 5, 60_000
    masks = sample_kernel(np.random.default_rng(1), draws, n, paired=paired)
    codes = masks.astype(np.int64) @ (1 << np.arange(n))
    kernel = kernel_subset_probabilities(all_subsets(n))
    keep = kernel > 0
    observed = np.bincount(codes, minlength=2**n)
    assert observed[~keep].sum() == 0  # never the empty or the full set
    # paired rows are not independent, but every row has the kernel as its distribution:
    # chi-square on the even rows (independent draws), and on the odd rows (their complements)
    for rows in (codes[0::2], codes[1::2]):
        counts = np.bincount(rows, minlength=2**n)
        assert chisquare(counts[keep], kernel[keep] * len(rows)).pvalue > 1e-3


def test_paired_rows_are_complements_and_odd_sizes_work() -> None:
    masks = sample_kernel(np.random.default_rng(0), 7, 9, paired=True)
    assert masks.shape == (7, 9)
    np.testing.assert_array_equal(masks[1::2], ~masks[0:6:2])
    sizes = masks.sum(1)
    assert ((sizes > 0) & (sizes < 9)).all()


def test_size_distribution_of_a_large_game() -> None:
    n, draws = 100, 40_000
    sizes = sample_kernel(np.random.default_rng(2), draws, n, paired=True).sum(1)
    p = kernel_size_probabilities(n)
    observed = np.bincount(sizes, minlength=n + 1)[1:n]
    # pool rare sizes so that every chi-square cell expects at least 20 draws
    exp = p[1:n] * draws
    order = np.argsort(exp)
    cells_o, cells_e, acc_o, acc_e = [], [], 0.0, 0.0
    for i in order:
        acc_o += observed[i]
        acc_e += exp[i]
        if acc_e >= 20:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o = acc_e = 0.0
    cells_e[-1] += acc_e
    cells_o[-1] += acc_o
    assert chisquare(cells_o, cells_e).pvalue > 1e-4
    # given the size, every point is equally likely to be in
    masks = sample_kernel(np.random.default_rng(3), 20_000, 10, paired=False)
    freq = masks.mean(0)
    assert np.abs(freq - freq.mean()).max() < 0.02


def test_exhaustive_pool_is_every_subset_once_with_weights_summing_to_one() -> None:
    masks, probs = exhaustive_kernel(5)
    assert len(masks) == 2**5 - 2
    codes = masks.astype(np.int64) @ (1 << np.arange(5))
    assert len(np.unique(codes)) == len(codes)
    np.testing.assert_array_equal(masks[1::2], ~masks[0::2])
    assert math.isclose(probs.sum(), 1.0)
    with pytest.raises(InvalidParameterError, match="exhaustive"):
        exhaustive_kernel(40)


def test_group_sampler_moves_whole_groups() -> None:
    groups = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    s = SubsetSampler(8, groups, "groups")
    masks = s.sample(np.random.default_rng(0), 200)
    for g in range(3):
        block = masks[:, groups == g]
        assert (block.all(1) | (~block).all(1)).all()
    np.testing.assert_array_equal(masks[1::2], ~masks[0::2])
    all_masks, probs = s.exhaustive()
    assert len(all_masks) == 2**3 - 2 and math.isclose(probs.sum(), 1.0)


def test_owen_sampler_keeps_other_groups_whole_and_pairs_in_player_space() -> None:
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    s = SubsetSampler(9, groups, "owen")
    masks = s.sample(np.random.default_rng(4), 600)
    np.testing.assert_array_equal(masks[1::2], ~masks[0::2])
    focus_counts = np.zeros(3, int)
    for row in masks[0::2]:
        # exactly the focus group may be split; every other group is all-in or all-out
        split = [g for g in range(3) if 0 < row[groups == g].sum() < (groups == g).sum()]
        assert len(split) <= 1
        if split:
            focus_counts[split[0]] += 1
    assert (focus_counts > 0).sum() >= 2  # focus groups with 2+ members do get split


def test_bad_sampler_arguments_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 players"):
        kernel_size_probabilities(1)
    with pytest.raises(InvalidParameterError, match="needs groups"):
        SubsetSampler(5, None, "groups")
    with pytest.raises(InvalidDataError, match="shape"):
        SubsetSampler(5, np.zeros(4), "groups")
    with pytest.raises(InvalidDataError, match="two groups"):
        SubsetSampler(5, np.zeros(5), "owen")
    with pytest.raises(InvalidParameterError, match="mode"):
        SubsetSampler(5, None, "bogus")


def test_pool_enumerates_small_spaces_and_samples_large_ones() -> None:
    rng = np.random.default_rng(0)
    small = make_pool(SubsetSampler(4), 100, rng)
    assert small.exhaustive and small.size == 14 and math.isclose(small.weights.sum(), 1.0)
    big = make_pool(SubsetSampler(30), 101, rng)
    assert not big.exhaustive and big.size == 102 and big.paired
    np.testing.assert_array_equal(big.masks[1::2], ~big.masks[0::2])
