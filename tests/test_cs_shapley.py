"""CS-Shapley against its definition computed by enumeration on a tiny game."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from assay.data import Dataset
from assay.errors import InvalidDataError
from assay.explain.game import PredictionUtility
from assay.utility import Utility
from assay.valuation import AdditiveGame, make_method
from assay.valuation.cs_shapley import CSShapley, PointAccuracy
from tests.test_explain_support import one_thread  # noqa: F401


def three_per_class(seed: int = 0) -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(seed)
    y = np.array([0, 0, 0, 1, 1, 1])
    X = rng.normal(size=(6, 2)) + np.where(y[:, None] == 1, 0.8, -0.8)
    yv = np.arange(40) % 2
    Xv = rng.normal(size=(40, 2)) + np.where(yv[:, None] == 1, 0.8, -0.8)
    train = Dataset.from_arrays(X, y)
    return train, Dataset.from_arrays(Xv, yv, classes=train.classes)


def exact_cs_shapley(utility: Utility, normalize: bool = True) -> np.ndarray:
    """Schoch et al.'s definition, literally: for each class, average over every subset S of the
    other classes of the Shapley value in T -> a_in(T + S) exp(a_out(T + S)), w(empty) = 0."""
    ytr, ydev = utility.train.y, utility.valid.y
    n, m = len(ytr), len(ydev)
    values = np.zeros(n)
    for c in np.unique(ytr):
        members = np.flatnonzero(ytr == c)
        others = np.flatnonzero(ytr != c)
        k = len(members)
        for bits in itertools.product([False, True], repeat=len(others)):
            base = np.zeros(n, bool)
            base[others] = bits

            def w(T: tuple[int, ...], base: np.ndarray = base, c: int = int(c)) -> float:
                if not T:
                    return 0.0
                mask = base.copy()
                mask[list(T)] = True
                s = np.asarray(utility(mask[None]))[0]
                return float(s[ydev == c].sum() / m * math.exp(s[ydev != c].sum() / m))

            for i in members:
                rest = [j for j in members if j != i]
                for r in range(k):
                    for T in itertools.combinations(rest, r):
                        weight = 1 / (k * math.comb(k - 1, r))
                        values[i] += weight * (w((*T, i)) - w(T)) / 2 ** len(others)
        if normalize:
            full = np.asarray(utility(np.ones((1, n), bool)))[0]
            values[members] *= full[ydev == c].sum() / m / values[members].sum()
    return values


@pytest.fixture(scope="module")
def utility() -> Utility:
    train, valid = three_per_class()
    return Utility("logistic", train, valid, scorer="confidence", single_class="constant")


@pytest.mark.parametrize("normalize", [False, True])
def test_matches_the_definition_by_enumeration(utility: Utility, normalize: bool) -> None:
    exact = exact_cs_shapley(utility, normalize)
    result = CSShapley(4000, batch_size=1000, seed=0, normalize=normalize).fit(utility)
    # 4,000 permutations per class, each with a fresh random complement: every value (about
    # 0.11 to 0.21 here) within 4 standard errors (each about 0.003) of the definition
    err = np.abs(result.values - exact)
    assert (err < 4 * result.stderr + 1e-3).all(), (result.values, exact, result.stderr)
    if normalize:  # each class sums to the full model's in-class score
        full = utility(np.ones((1, 6), bool))[0]
        for c in (0, 1):
            members = utility.train.y == c
            assert result.values[members].sum() == pytest.approx(
                full[utility.valid.y == c].sum() / 40
            )


def test_scalar_utilities_are_scored_per_point_by_accuracy() -> None:
    train, valid = three_per_class(1)
    scalar = Utility("logistic", train, valid, scorer="accuracy", single_class="constant")
    per_point = Utility("logistic", train, valid, scorer=PointAccuracy(), single_class="constant")
    a = CSShapley(200, batch_size=100, seed=2).fit(scalar).values
    b = CSShapley(200, batch_size=100, seed=2).fit(per_point).values
    np.testing.assert_allclose(a, b)


def test_per_prediction_values_only_credit_the_predicted_class() -> None:
    train, valid = three_per_class(2)
    putil = PredictionUtility("logistic", train)
    game = putil.column_games(valid.X[:1], valid.y[:1])[0]
    values = CSShapley(100, batch_size=50, seed=0).fit(game).values
    other = train.y != valid.y[0]
    assert np.all(values[other] == 0) and values[~other].sum() > 0


def test_bare_games_are_refused_and_the_registry_knows_it() -> None:
    with pytest.raises(InvalidDataError, match="labelled"):
        CSShapley(10).fit(AdditiveGame([1.0, 2.0]))
    assert isinstance(make_method("cs-shapley", budget=5), CSShapley)
