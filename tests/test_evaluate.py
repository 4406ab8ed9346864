"""Evaluation: noisy-label detection, removal / addition curves, figures and the HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from assay.data.splits import Split
from assay.errors import InvalidDataError, InvalidParameterError
from assay.evaluate import (
    DEFAULT_FRACTIONS,
    ExtraSection,
    Html,
    Report,
    build_report,
    curve_subsets,
    detect_noisy,
    detection_table,
    figure_png,
    make_report,
    plot_curves,
    plot_detection,
    plot_value_histogram,
    point_curves,
    read_evaluation,
    removal_curves,
    value_order,
    write_evaluation,
)
from assay.learners import LogisticRegression
from assay.result import ValuationResult
from assay.utility import Utility
from assay.valuation import KNNShapley

# ---------------------------------------------------------------------- detection


def toy(values: list[float], method: str = "toy") -> ValuationResult:
    return ValuationResult.exact(np.arange(len(values)) + 100, values, method)


def test_detection_perfect_and_reversed() -> None:
    values = [5.0, 4.0, -3.0, 2.0, 6.0, -1.0, 7.0, 8.0, 9.0, 3.0]
    d = detect_noisy(toy(values), [2, 5])
    assert (d.n, d.n_noisy, d.n_flagged) == (10, 2, 2)
    assert d.precision == d.recall == d.f1 == 1.0
    assert d.roc_auc == 1.0 and d.average_precision == 1.0
    r = detect_noisy(toy(values), [7, 8])  # the two highest values
    assert r.roc_auc == 0.0 and r.f1 == 0.0 and r.precision == 0.0
    assert d.to_dict()["method"] == "toy" and json.dumps(d.to_dict())


def test_detection_partial_by_hand() -> None:
    # value of position i is i; flipped {0, 3, 8}; 3 flagged = {0, 1, 2}: one hit
    d = detect_noisy(toy(list(range(10))), [0, 3, 8])
    assert d.n_flagged == 3
    assert d.precision == pytest.approx(1 / 3) and d.recall == pytest.approx(1 / 3)
    assert d.f1 == pytest.approx(1 / 3)
    # (noisy, clean) pairs with the noisy value lower: 7 + 5 + 1 of 3 * 7
    assert d.roc_auc == pytest.approx(13 / 21)
    # hits at ranks 1, 4, 9 of the ascending order: (1/1 + 2/4 + 3/9) / 3
    assert d.average_precision == pytest.approx(11 / 18)
    d4 = detect_noisy(toy(list(range(10))), [0, 3, 8], fraction=0.4)  # flags {0, 1, 2, 3}
    assert (d4.n_flagged, d4.precision, d4.recall) == (4, 0.5, pytest.approx(2 / 3))
    assert d4.f1 == pytest.approx(4 / 7)


def test_detection_by_ids_is_order_free() -> None:
    r = toy([0.3, 0.1, 0.9, 0.5, 0.2, 0.8])
    by_pos = detect_noisy(r, [1, 4])
    by_id = detect_noisy(r.sort(), flipped_ids=[101, 104])
    assert by_pos == by_id


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flipped": []}, "empty"),
        ({"flipped_ids": [999]}, "not in this result"),
        ({"flipped": [1, 1]}, "duplicates"),
        ({"flipped": [10]}, r"\[0, 4\)"),
        ({"flipped": [0, 1, 2, 3]}, "all 4 points"),
    ],
)
def test_detection_bad_flipped_sets(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidDataError, match=match):
        detect_noisy(toy([1.0, 2.0, 3.0, 4.0]), **kwargs)


def test_detection_bad_arguments() -> None:
    r = toy([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InvalidParameterError, match="exactly one"):
        detect_noisy(r)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        detect_noisy(r, [0], flipped_ids=[100])
    with pytest.raises(InvalidParameterError, match="fraction"):
        detect_noisy(r, [0], fraction=0.0)
    with pytest.raises(InvalidDataError, match="infinite"):
        detect_noisy(toy([1.0, np.inf, 3.0]), [0])
    with pytest.raises(InvalidDataError, match="only NaN"):
        detect_noisy(toy([np.nan, np.nan]), [0])


def test_detection_ranks_nan_values_as_least_suspect() -> None:
    # a point without an estimate is never flagged and scores below every scored point
    d = detect_noisy(toy([np.nan, 0.5, 3.0, 1.0]), [1], fraction=0.25)
    assert (d.precision, d.roc_auc) == (1.0, 1.0)
    d = detect_noisy(toy([np.nan, 0.5, 3.0, 1.0]), [0], fraction=0.25)
    assert (d.precision, d.roc_auc) == (0.0, 0.0)


def test_detection_table_one_row_per_method() -> None:
    good = toy([0.0, 1.0, 2.0, 3.0], "good")
    bad = toy([3.0, 2.0, 1.0, 0.0], "bad")
    df = detection_table([good, bad], [0])
    assert list(df["method"]) == ["good", "bad"]
    assert list(df["roc_auc"]) == [1.0, 0.0]
    assert {"precision", "recall", "f1", "average_precision", "n_flagged"} <= set(df.columns)
    assert list(detection_table({"a": good, "b": good}, [0])["method"]) == ["a", "b"]
    with pytest.raises(InvalidParameterError, match="mapping"):
        detection_table([good, good], [0])


# ---------------------------------------------------------------------- curves


@pytest.fixture(scope="module")
def task(noisy_breast_cancer: tuple[Split, np.ndarray]) -> dict[str, Any]:
    split, flipped = noisy_breast_cancer
    knn = KNNShapley(5).fit(Utility("logistic", split.train, split.valid))
    return {"split": split, "flipped": flipped, "knn": knn}


class CountingUtility:
    """A utility that records the shape of every call."""

    def __init__(self, u: Utility) -> None:
        self.u, self.train, self.score_shape = u, u.train, u.score_shape
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, subsets: Any) -> np.ndarray:
        self.calls.append(np.shape(subsets))
        return self.u(subsets)


def test_curve_subsets_by_hand() -> None:
    order = [2, 0, 1, 3]
    rem = curve_subsets(order, [0, 0.25, 0.5, 1], "removal")
    assert rem.tolist() == [
        [True, True, True, True],
        [True, True, False, True],
        [False, True, False, True],
        [False, False, False, False],
    ]
    assert (curve_subsets(order, [0, 0.25, 0.5, 1], "addition") == ~rem).all()
    with pytest.raises(InvalidParameterError, match="fractions"):
        curve_subsets(order, [0.5, 1.5])
    with pytest.raises(InvalidParameterError, match="curve"):
        curve_subsets(order, [0.5], "sideways")


def test_curves_are_one_batched_call(task: dict[str, Any]) -> None:
    split, knn = task["split"], task["knn"]
    rng = np.random.default_rng(1)
    other = ValuationResult.exact(split.train.ids, rng.normal(size=split.train.n), "noise")
    u = CountingUtility(Utility("logistic", split.train, split.test))
    df = point_curves([knn, other], u, n_random=3)
    F, n = len(DEFAULT_FRACTIONS), split.train.n
    assert u.calls == [(2 * 2 * 2 * F + 2 * 3 * F, n)]  # methods x orders x curves + random
    assert len(df) == (2 * 2 * 2 + 2) * F
    assert set(df["method"]) == {"knn-shapley", "noise", "random"}
    assert (df.loc[df["method"] != "random", "std"] == 0).all()
    rand = df[df["method"] == "random"]
    assert (rand["direction"] == "random").all() and (rand["std"] >= 0).all()
    rem = df[df["curve"] == "removal"]
    assert (rem["n_train"] + rem["n_points"] == n).all()


def test_removing_lowest_values_beats_removing_highest(task: dict[str, Any]) -> None:
    split, knn = task["split"], task["knn"]
    # log-likelihood: 114 test points make accuracy move in steps of 0.009, too coarse here
    u = Utility(LogisticRegression(), split.train, split.test, "log_likelihood")
    df = removal_curves(knn, u, fractions=[0.0, 0.1, 0.15, 0.2])
    score = df.set_index(["direction", "fraction"])["score"]
    for f in (0.1, 0.15, 0.2):
        low, high, rand = (score[(d, f)] for d in ("suspect-first", "keep-first", "random"))
        assert low > rand > high, (f, low, rand, high)
    assert score[("suspect-first", 0.0)] == score[("keep-first", 0.0)]


def test_batched_curve_equals_separate_evaluation(task: dict[str, Any]) -> None:
    split, knn = task["split"], task["knn"]
    df = point_curves(knn, Utility(LogisticRegression(), split.train, split.test), n_random=0)
    fresh = Utility(LogisticRegression(), split.train, split.test)  # its own (empty) cache
    for curve in ("removal", "addition"):
        for direction in ("suspect-first", "keep-first"):
            masks = curve_subsets(
                value_order(knn, split.train.ids, direction), DEFAULT_FRACTIONS, curve
            )
            one_by_one = np.array([fresh(m) for m in masks])
            got = df[(df["curve"] == curve) & (df["direction"] == direction)]["score"]
            np.testing.assert_array_equal(got.to_numpy(), one_by_one)


def test_curves_match_results_by_id_and_are_seeded(task: dict[str, Any]) -> None:
    split, knn = task["split"], task["knn"]
    u = Utility("logistic", split.train, split.test)
    a = point_curves(knn, u, fractions=[0.1, 0.3], n_random=2, seed=3)
    b = point_curves(knn.sort(), u, fractions=[0.1, 0.3], n_random=2, seed=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(InvalidDataError, match="values 5 points"):
        point_curves(knn.take(np.arange(5)), u)
    with pytest.raises(InvalidParameterError, match="scalar scorer"):
        point_curves(knn, Utility("logistic", split.train, split.test, "confidence"))
    with pytest.raises(InvalidParameterError, match="n_random"):
        point_curves(knn, u, n_random=-1)


# ---------------------------------------------------------------------- plots and report


@pytest.fixture(scope="module")
def evaluation(task: dict[str, Any]) -> dict[str, Any]:
    split, knn, flipped = task["split"], task["knn"], task["flipped"]
    neg = ValuationResult(
        knn.ids, -knn.values, knn.stderr, knn.counts, "anti-knn", {"seed": 7, "seconds": 0.5}
    )
    results = [knn, neg]
    u = Utility("logistic", split.train, split.test)
    ids = split.train.ids[flipped]
    return {
        "results": results,
        "detection": detection_table(results, flipped_ids=ids),
        "curves": point_curves(results, u, fractions=[0, 0.1, 0.2], n_random=2),
        "flipped_ids": ids,
        "facts": {"dataset": "breast_cancer", "n": split.train.n, "noise_rate": 0.1},
    }


def test_plots_return_figures(evaluation: dict[str, Any]) -> None:
    knn = evaluation["results"][0]
    figs = [
        plot_curves(evaluation["curves"], "removal"),
        plot_curves(evaluation["curves"], "addition"),
        plot_value_histogram(knn, flipped_ids=evaluation["flipped_ids"]),
        plot_value_histogram(knn),
        plot_detection(evaluation["detection"]),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    assert figure_png(figs[0]).startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InvalidDataError, match="no 'addition'"):
        plot_curves(evaluation["curves"][evaluation["curves"]["curve"] == "removal"], "addition")


def assert_self_contained(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert '<img src="data:image/png;base64,' in text
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<(script|link)\b", text)
    assert not re.search(r'src="(?!data:)', text)


def test_report_builder_escapes_and_writes(tmp_path: Path) -> None:
    r = Report("a <b> report")
    r.add_text("Notes", "- one `x < y`\n- **two**\n\nA <script>alert(1)</script> paragraph.")
    r.add_table("Table", pd.DataFrame({"name": ["<i>"], "v": [0.123456], "m": [np.nan]}))
    r.add_section(
        "Extra",
        Html("<p class='mine'>raw</p>"),
        figure_png(plot_detection(pd.DataFrame({"method": ["m"], "roc_auc": [0.75]}))),
    )
    text = r.render()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<code>x &lt; y</code>" in text and "<strong>two</strong>" in text
    assert "&lt;i&gt;" in text and "0.1235" in text and "<title>a &lt;b&gt; report</title>" in text
    assert "<p class='mine'>raw</p>" in text
    path = r.write(tmp_path / "sub" / "r.html")
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]  # no temporary file left
    assert_self_contained(text)


def test_make_report_has_everything(evaluation: dict[str, Any], tmp_path: Path) -> None:
    extra: list[ExtraSection] = [
        ("Trimming", pd.DataFrame({"kept": [300]})),
        ("Later", "plain **text**", None),
    ]
    r = make_report(
        evaluation["results"],
        detection=evaluation["detection"],
        curves=evaluation["curves"],
        facts=evaluation["facts"],
        flipped_ids=evaluation["flipped_ids"],
        extra_sections=extra,
    )
    text = r.write(tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    for needle in (
        "knn-shapley",
        "anti-knn",
        "breast_cancer",
        "Noisy-label detection",
        "Point removal curves",
        "Point addition curves",
        "Trimming",
        "Later",
    ):
        assert needle in text, needle
    auc = evaluation["detection"].set_index("method")["roc_auc"]
    assert f"{auc['knn-shapley']:.4g}" in text
    # detection table sorted by ROC-AUC: the better method first
    table = text[text.index("Noisy-label detection") :]
    assert table.index("knn-shapley") < table.index("anti-knn")
    assert text.count("data:image/png;base64,") == 1 + 2 + 2  # detection, 2 curves, 2 histograms


def test_build_report_from_results_dir(evaluation: dict[str, Any], tmp_path: Path) -> None:
    for res in evaluation["results"]:
        res.save(tmp_path / f"{res.method}.parquet")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "not-a-result.parquet")
    only_values = build_report(tmp_path).render()
    assert_self_contained(only_values)
    assert "Values: knn-shapley" in only_values and "Values: anti-knn" in only_values
    assert "Noisy-label detection" not in only_values and "not-a-result" not in only_values

    write_evaluation(
        tmp_path,
        evaluation["detection"],
        evaluation["curves"],
        evaluation["facts"],
        flipped_ids=evaluation["flipped_ids"],
        times={"knn-shapley": 0.0125, "anti-knn": 2.5},
    )
    (tmp_path / "facts.json").write_text(json.dumps({"learner": "logistic"}))
    back = read_evaluation(tmp_path)
    pd.testing.assert_frame_equal(back["curves"], evaluation["curves"], check_dtype=False)
    assert back["facts"]["dataset"] == "breast_cancer"
    full = build_report(tmp_path, title="Run 1").render()
    assert_self_contained(full)
    for needle in ("Run 1", "Noisy-label detection", "Point removal curves", "logistic"):
        assert needle in full, needle
    methods = full[full.index("<h2>Methods</h2>") : full.index("Wall time")]
    assert "0.0125" in methods and "2.5" in methods
    assert back["times"] == {"knn-shapley": 0.0125, "anti-knn": 2.5}


def test_build_report_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="not found"):
        build_report(tmp_path / "missing")
    with pytest.raises(InvalidDataError, match="no ValuationResult"):
        build_report(tmp_path)
    toy([1.0, 2.0]).save(tmp_path / "toy.parquet")
    (tmp_path / "evaluation.json").write_text("[1, 2]")
    with pytest.raises(InvalidDataError, match="JSON object"):
        build_report(tmp_path)
    toy_table = pd.DataFrame({"method": ["toy"]})
    write_evaluation(tmp_path, toy_table, facts={"gap": float("nan")}, overwrite=True)
    assert json.loads((tmp_path / "evaluation.json").read_text())["facts"] == {"gap": None}
    with pytest.raises(InvalidDataError, match="lacks columns"):
        build_report(tmp_path)
