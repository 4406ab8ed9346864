"""Groups of rows as players: the group game, exact group Shapley values, the value recipe."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from assay.data.task import TaskSpec
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners import LogisticRegression
from assay.utility import Utility
from assay.valuation import ExactShapley
from assay.valuation.games import AdditiveGame
from assay.valuation.groups import GroupGame, parse_players
from assay.valuation.run import value_task
from tests.conftest import tiny_task


def test_a_group_of_an_additive_game_is_worth_its_members_sum() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    game = GroupGame(AdditiveGame(weights), ["b", "a", "b", "c", "a"])
    values = ExactShapley().fit(game).values
    np.testing.assert_allclose(values, [2 + 5, 1 + 3, 4], atol=1e-12)  # labels a, b, c


def test_group_shapley_on_a_utility_is_the_permutation_definition_over_groups() -> None:
    train, valid = tiny_task(n_train=12, n_valid=40)
    utility = Utility(LogisticRegression(), train, valid)
    groups = np.arange(12) % 4
    game = GroupGame(utility, groups)
    got = ExactShapley().fit(game).values
    want = np.zeros(4)
    for order in itertools.permutations(range(4)):
        rows = np.zeros(12, bool)
        before = float(utility(rows[None])[0])
        for g in order:
            rows = rows | (groups == g)
            after = float(utility(rows[None])[0])
            want[g] += after - before
            before = after
    np.testing.assert_allclose(got, want / math.factorial(4), atol=1e-12)


def test_every_row_gets_its_groups_value_from_the_recipe() -> None:
    spec = TaskSpec("breast_cancer", valid_fraction=0.2, seed=0)
    run = value_task(spec, "banzhaf", budget=64, players="clusters:8")
    result = run.result
    codes = np.asarray(result.params["group_of_row"])
    assert len(result) == len(codes) and result.params["player_groups"] == 8
    for g in range(8):
        assert np.unique(result.values[codes == g]).size == 1
    assert sum(result.params["group_sizes"]) == len(result)
    assert np.isfinite(result.values).all()


@pytest.mark.parametrize("bad", ["cluster:3", "clusters:1", "clusters:x", "groups:", "cols:a"])
def test_bad_player_specs_are_refused(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="players"):
        parse_players(bad)


def test_players_refuse_cross_fitting_and_mismatched_groups() -> None:
    with pytest.raises(InvalidParameterError, match="validation set"):
        value_task(TaskSpec("breast_cancer", folds=5), "banzhaf", players="clusters:4")
    with pytest.raises(InvalidDataError, match="entries"):
        GroupGame(AdditiveGame([1.0, 2.0]), [0, 1, 1])
    with pytest.raises(InvalidParameterError, match=">= 2 groups"):
        GroupGame(AdditiveGame([1.0, 2.0]), [0, 0])
