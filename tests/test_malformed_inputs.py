"""Fuzz-style malformed inputs: every one ends in ONE clear AssayError line, and writes nothing.

Families: files, columns, shapes, parameters, corrupt artifacts, output paths; across the CLI
commands (in-process runner: exit status 2, one ``error: ...`` line, no traceback) and the Python
entry points (``read_table``, ``Dataset.from_arrays``, ``Utility``, ``make_method``,
``ValuationResult.load``, ``DataExplainer.load``, ``make_learner``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assay.errors import AssayError
from tests.cli_support import run

GOOD = "a,b,label\n" + "".join(f"{i % 5},{(i * 7) % 3},{i % 2}\n" for i in range(24))

# ---------------------------------------------------------------- bad data files
FILES: dict[str, tuple[str, bytes]] = {
    "empty": ("empty.csv", b""),
    "blank-lines": ("blank.csv", b"\n\n\n"),
    "header-only": ("header.csv", b"a,b,label\n"),
    "binary": ("bin.csv", bytes(range(256)) * 4),
    "latin-1": ("latin.csv", "a,b,label\n1,2,caf\xe9\n3,4,x\n".encode("latin-1")),
    "ragged": ("ragged.csv", b"a,b,label\n1,2,0\n3,4,1,9,9\n5,6,0\n"),
    "huge-values": ("huge.csv", ("a,b,label\n" + "1e300,1,0\n2,1,1\n" * 6).encode()),
    "dup-target": ("dup.csv", b"a,label,label\n1,0,0\n2,1,1\n3,0,0\n4,1,1\n"),
    "dup-feature": ("dupf.csv", b"a,a,label\n1,0,0\n2,1,1\n3,0,0\n4,1,1\n"),
    "inf-feature": ("inf.csv", b"a,b,label\n1,inf,0\n2,1,1\n3,0,0\n4,1,1\n"),
    "one-class": ("one.csv", ("a,b,label\n" + "1,2,0\n3,4,0\n" * 6).encode()),
    "continuous": (
        "cont.csv",
        ("a,b,label\n" + "".join(f"{i},{i % 3},{i * 0.137:.3f}\n" for i in range(40))).encode(),
    ),
    "parquet-garbage": ("bad.parquet", b"PAR1 this is not parquet"),
    "truncated-parquet": ("trunc.parquet", b""),  # replaced by a real file cut short below
    "wrong-suffix": ("data.xlsx", b"a,b,label\n1,2,0\n"),
    "directory": ("adir.csv", b""),  # made a directory below
}


def _write_file(tmp: Path, kind: str) -> Path:
    name, data = FILES[kind]
    path = tmp / name
    if kind == "directory":
        path.mkdir()
    elif kind == "truncated-parquet":
        import pandas as pd

        pd.DataFrame({"a": range(30), "label": [0, 1] * 15}).to_parquet(path)
        path.write_bytes(path.read_bytes()[:40])
    else:
        path.write_bytes(data)
    return path


def _assert_one_line(exc: BaseException) -> None:
    msg = str(exc)
    assert isinstance(exc, AssayError), f"{type(exc).__name__}: {msg}"
    assert msg and "\n" not in msg and len(msg) < 600, msg


def _nothing_written(tmp: Path, before: set[Path]) -> None:
    after = {p for p in tmp.rglob("*") if p.is_file()}
    assert after <= before, f"wrote {sorted(map(str, after - before))}"


# one family of files: read_table must end in one AssayError line
@pytest.mark.parametrize("kind", [k for k in FILES if k != "one-class"])
def test_read_table_refuses(kind: str, tmp_path: Path) -> None:
    from assay.data import read_table

    path = _write_file(tmp_path, kind)
    with pytest.raises(AssayError) as info:
        read_table(path, "label")
    _assert_one_line(info.value)


def test_messages_say_which_and_where(tmp_path: Path) -> None:
    from assay.data import read_table

    def msg(kind: str) -> str:
        with pytest.raises(AssayError) as info:
            read_table(_write_file(tmp_path, kind), "label")
        return str(info.value)

    assert "empty" in msg("empty")
    assert "no data rows" in msg("header-only")
    assert "binary" in msg("binary")
    assert "not UTF-8" in msg("latin-1") and "line 2" in msg("latin-1")
    assert "line 3" in msg("ragged")
    assert "'a'" in msg("huge-values") and "overflow" in msg("huge-values")
    assert "duplicated column names" in msg("dup-target") and "label" in msg("dup-target")
    m = msg("continuous")
    assert "target looks continuous (40 distinct float values)" in m and len(m) < 300


# ---------------------------------------------------------------- the CLI
def _cli(argv: list[str], tmp: Path, capsys) -> str:  # type: ignore[no-untyped-def]
    before = {p for p in tmp.rglob("*") if p.is_file()}
    code, _, err = run(argv, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    _nothing_written(tmp, before)
    return lines[0]


VALUE = ["value", "--method", "loo", "-t", "label"]


@pytest.mark.parametrize("kind", [k for k in FILES if k not in ("one-class",)])
def test_value_refuses_bad_files(kind: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = _write_file(tmp_path, kind)
    _cli(["value", str(path), *VALUE[1:], "-o", str(tmp_path / "out" / "v")], tmp_path, capsys)


def _good(tmp: Path) -> Path:
    p = tmp / "good.csv"
    p.write_text(GOOD)
    return p


@pytest.mark.parametrize(
    "extra",
    [
        ["--seed", "-1"],
        ["--seed", str(2**32)],
        ["--budget", "0"],
        ["--budget", "-5"],
        ["--budget", str(10**12)],
        ["--jobs", "0"],
        ["--flip-rate", "1.5"],
        ["--flip-rate", "nan"],
        ["--valid-fraction", "1.0"],
        ["--valid-fraction", "nan"],
        ["--method", "no-such-method"],
        ["--learner", "no-such-learner"],
        ["--learner", "sklearn:os.system"],
        ["--learner", "sklearn:subprocess.Popen"],
        ["--learner", "sklearn:sklearn.NoSuchClass"],
        ["--learner", "sklearn:sklearn.utils.Bunch"],
        ["--learner", "sklearn:"],
        ["--learner-param", "max_iter=0"],
        ["--learner-param", "C=nan"],
        ["--learner-param", "C=inf"],
        ["--learner-param", "nonsense=1"],
        ["--learner-param", "novalue"],
        ["--learner", "mlp", "--learner-param", "hidden=(0,)"],
        ["--method", "knn-shapley", "--param", "k=0"],
        ["--method", "knn-shapley", "--param", "k=-3"],
        ["--method", "knn-shapley", "--param", "k=2.5"],
        ["--method", "tmc-shapley", "--param", "batch_size=0"],
        ["--method", "tmc-shapley", "--param", "seed=-2"],
        ["--method", "tmc-shapley", "--param", "nonsense=3"],
        ["--method", "exact-shapley", "--valid-fraction", "0.2"],  # 19 players
        ["--scorer", "no-such-scorer"],
        ["--target", "missing_column"],
        ["--id-column", "missing_column"],
        ["--valid", "does-not-exist.csv"],
    ],
)
def test_value_refuses_bad_options(extra: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = _good(tmp_path)
    argv = ["value", str(data), "-m", "loo", "-t", "label", "-o", str(tmp_path / "o" / "v")]
    _cli([*argv, *extra], tmp_path, capsys)


def test_exact_shapley_says_the_size(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = _good(tmp_path)
    argv = ["value", str(data), "-m", "exact-shapley", "-t", "label", "-o", str(tmp_path / "v")]
    assert "2^19 models" in _cli([*argv, "--valid-fraction", "0.2"], tmp_path, capsys)


@pytest.mark.parametrize("where", ["under-file", "directory", "empty"])
def test_value_refuses_unwritable_outputs(where: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = _good(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.parquet").mkdir()
    out = {"under-file": tmp_path / "afile" / "v.parquet", "directory": tmp_path / "adir.parquet"}
    target = str(out.get(where, ""))
    _cli(["value", str(data), "-m", "loo", "-t", "label", "-o", target], tmp_path, capsys)


@pytest.fixture(scope="module")
def values_file(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    from assay.result import ValuationResult

    folder = tmp_path_factory.mktemp("values")
    return ValuationResult.exact(np.arange(5), np.arange(5.0), "loo").save(folder / "loo")


CORRUPT: dict[str, Callable[[Path], None]] = {
    "truncated-parquet": lambda p: p.write_bytes(p.read_bytes()[:30]),
    "garbage-parquet": lambda p: p.write_bytes(b"not parquet at all"),
    "empty-parquet": lambda p: p.write_bytes(b""),
    "broken-sidecar": lambda p: p.with_suffix(".json").write_text("{not json"),
    "sidecar-list": lambda p: p.with_suffix(".json").write_text("[1, 2]"),
    "sidecar-params-string": lambda p: p.with_suffix(".json").write_text('{"params": "x"}'),
    "sidecar-binary": lambda p: p.with_suffix(".json").write_bytes(b"\xff\xfe\x00"),
}


def _corrupt_copy(values_file: Path, tmp: Path, kind: str) -> Path:
    import shutil

    dst = tmp / "in" / values_file.name
    dst.parent.mkdir()
    shutil.copy(values_file, dst)
    shutil.copy(values_file.with_suffix(".json"), dst.with_suffix(".json"))
    CORRUPT[kind](dst)
    return dst


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_load_refuses_corrupt_results(kind: str, values_file: Path, tmp_path: Path) -> None:
    from assay.result import ValuationResult

    path = _corrupt_copy(values_file, tmp_path, kind)
    with pytest.raises(AssayError) as info:
        ValuationResult.load(path)
    _assert_one_line(info.value)
    assert path.name in str(info.value) or ".json" in str(info.value)


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_evaluate_refuses_corrupt_results(
    kind: str, values_file: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    path = _corrupt_copy(values_file, tmp_path, kind)
    _cli(["evaluate", str(path), "-o", str(tmp_path / "ev")], tmp_path, capsys)


def test_evaluate_refuses_missing_values(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _cli(["evaluate", str(tmp_path / "none.parquet"), "-o", str(tmp_path / "ev")], tmp_path, capsys)


@pytest.mark.parametrize("kind", ["missing", "file", "broken-evaluation"])
def test_report_refuses_bad_folders(kind: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "res"
    if kind == "file":
        folder.write_text("x")
    elif kind == "broken-evaluation":
        folder.mkdir()
        (folder / "evaluation.json").write_text("{broken")
    _cli(["report", str(folder), "-o", str(tmp_path / "r.html")], tmp_path, capsys)


# ---------------------------------------------------------------- other commands
@pytest.mark.parametrize(
    "argv",
    [
        ["select", "{bad}", "-t", "label", "-m", "loss", "-b", "5", "-o", "{out}"],
        ["select", "{data}", "-t", "label", "-m", "loss", "-b", "-1", "-o", "{out}"],
        ["select", "{data}", "-t", "label", "-m", "loss", "-b", "nan", "-o", "{out}"],
        ["select", "{data}", "-t", "label", "-m", "loss", "-b", "5", "-k", "0", "-o", "{out}"],
        ["select", "{data}", "-t", "nope", "-m", "loss", "-b", "5", "-o", "{out}"],
        ["select", "{data}", "-t", "label", "-m", "nope", "-b", "5", "-o", "{out}"],
        ["trim", "{bad}", "-t", "label", "-r", "3", "-o", "{out}"],
        ["trim", "{data}", "-t", "label", "-r", "-3", "-o", "{out}"],
        ["trim", "{data}", "-t", "label", "-r", "x", "-o", "{out}"],
        ["trim", "{data}", "-t", "label", "-r", "3", "--random-repeats", "-1", "-o", "{out}"],
        ["trim", "{data}", "-t", "label", "-r", "3", "-m", "nope", "-o", "{out}"],
        [
            "active",
            "{bad}",
            "-t",
            "label",
            "--initial",
            "4",
            "--batch",
            "2",
            "--rounds",
            "1",
            "-o",
            "{out}",
        ],
        [
            "active",
            "{data}",
            "-t",
            "label",
            "--initial",
            "0",
            "--batch",
            "2",
            "--rounds",
            "1",
            "-o",
            "{out}",
        ],
        [
            "active",
            "{data}",
            "-t",
            "label",
            "--initial",
            "4",
            "--batch",
            "0",
            "--rounds",
            "1",
            "-o",
            "{out}",
        ],
        [
            "active",
            "{data}",
            "-t",
            "label",
            "--initial",
            "4",
            "--batch",
            "2",
            "--rounds",
            "-1",
            "-o",
            "{out}",
        ],
        ["explain", "{bad}", "-t", "label", "-o", "{out}"],
        ["explain", "{data}", "-t", "nope", "-o", "{out}"],
        ["explain", "{data}", "-t", "label", "--epochs", "0", "-o", "{out}"],
        ["explain", "{data}", "-t", "label", "--n-subsets", "0", "-o", "{out}"],
        ["explain", "{data}", "-t", "label", "--variant", "nope", "-o", "{out}"],
        ["attribute", "{data}", "--explainer", "{missing}", "-o", "{out}"],
        ["attribute", "{data}", "--explainer", "{brokenexpl}", "-o", "{out}"],
        ["serve", "--explainer", "{missing}", "--port", "1"],
        ["serve", "--explainer", "{brokenexpl}", "--port", "1"],
    ],
)
def test_commands_refuse(argv: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = _good(tmp_path)
    bad = _write_file(tmp_path, "binary")
    broken = tmp_path / "expl"
    broken.mkdir()
    for name in ("explainer.json", "explainer.safetensors", "models.safetensors"):
        (broken / name).write_text("{broken")
    subs = {
        "{data}": str(data),
        "{bad}": str(bad),
        "{out}": str(tmp_path / "out" / "o"),
        "{missing}": str(tmp_path / "nope"),
        "{brokenexpl}": str(broken),
    }
    _cli([subs.get(a, a) for a in argv], tmp_path, capsys)


# ---------------------------------------------------------------- Python entry points
X4 = np.arange(8.0).reshape(4, 2)
ARRAYS = {
    "nan-id": dict(X=X4, y=[0, 1, 0, 1], ids=[1.0, np.nan, 3.0, 4.0]),
    "none-id": dict(X=X4, y=[0, 1, 0, 1], ids=np.array(["a", None, "c", "d"], dtype=object)),
    "dup-id": dict(X=X4, y=[0, 1, 0, 1], ids=[1, 1, 2, 3]),
    "short-ids": dict(X=X4, y=[0, 1, 0, 1], ids=[1, 2]),
    "nan-X": dict(X=[[1.0, np.nan], [1, 2], [3, 4], [5, 6]], y=[0, 1, 0, 1]),
    "inf-X": dict(X=[[1.0, np.inf], [1, 2], [3, 4], [5, 6]], y=[0, 1, 0, 1]),
    "huge-X": dict(X=[[1.0, 1e300], [1, 2], [3, 4], [5, 6]], y=[0, 1, 0, 1]),
    "1-D X": dict(X=[1.0, 2, 3, 4], y=[0, 1, 0, 1]),
    "3-D X": dict(X=np.zeros((4, 2, 2)), y=[0, 1, 0, 1]),
    "empty X": dict(X=np.zeros((0, 2)), y=[]),
    "text X": dict(X=[["a", "b"]] * 4, y=[0, 1, 0, 1]),
    "short y": dict(X=X4, y=[0, 1]),
    "nan y": dict(X=X4, y=[0.0, np.nan, 1.0, 0.0]),
    "none y": dict(X=X4, y=np.array([0, None, 1, 0], dtype=object)),
    "2-D y": dict(X=X4, y=np.zeros((4, 2))),
    "continuous y": dict(X=np.arange(40.0).reshape(20, 2), y=np.linspace(0, 1, 20)),
    "unknown class": dict(X=X4, y=[0, 1, 2, 0], classes=[0, 1]),
    "names mismatch": dict(X=X4, y=[0, 1, 0, 1], feature_names=["a"]),
    "groups mismatch": dict(X=X4, y=[0, 1, 0, 1], groups=[1, 2]),
}


@pytest.mark.parametrize("kind", list(ARRAYS))
def test_from_arrays_refuses(kind: str) -> None:
    from assay.data import Dataset

    kwargs = dict(ARRAYS[kind])
    with pytest.raises(AssayError) as info:
        Dataset.from_arrays(kwargs.pop("X"), kwargs.pop("y"), **kwargs)
    _assert_one_line(info.value)


def _tiny():  # type: ignore[no-untyped-def]
    from assay.data import Dataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 2))
    y = (X[:, 0] > 0).astype(int)
    return Dataset.from_arrays(X[:10], y[:10]), Dataset.from_arrays(X[10:], y[10:])


@pytest.mark.parametrize(
    "case",
    [
        "unknown-learner",
        "unknown-scorer",
        "valid-columns",
        "valid-classes",
        "not-a-dataset",
        "cache-is-file",
        "cache-corrupt-part",
    ],
)
def test_utility_refuses(case: str, tmp_path: Path) -> None:
    from assay.data import Dataset
    from assay.utility import Utility

    train, valid = _tiny()
    kwargs: dict[str, object] = {}
    learner: object = "logistic"
    if case == "unknown-learner":
        learner = "nope"
    elif case == "unknown-scorer":
        kwargs["scorer"] = "nope"
    elif case == "valid-columns":
        valid = Dataset.from_arrays(np.zeros((4, 3)), [0, 1, 0, 1])
    elif case == "valid-classes":
        valid = Dataset.from_arrays(np.zeros((4, 2)), ["a", "b", "a", "b"])
    elif case == "not-a-dataset":
        valid = np.zeros((4, 2))  # type: ignore[assignment]
    elif case == "cache-is-file":
        (tmp_path / "cache").write_text("x")
        kwargs["cache_dir"] = tmp_path / "cache"
    elif case == "cache-corrupt-part":
        from assay.utility.cache import UtilityCache

        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "part-0.npz").write_bytes(b"PK\x03\x04broken")
        with pytest.raises(AssayError) as info:
            UtilityCache(tmp_path / "cache")
        _assert_one_line(info.value)
        assert "part-0.npz" in str(info.value)
        return
    with pytest.raises(AssayError) as info:
        Utility(learner, train, valid, **kwargs)  # type: ignore[arg-type]
    _assert_one_line(info.value)


METHOD_PARAMS = [
    ("tmc-shapley", {"batch_size": 0}),
    ("tmc-shapley", {"seed": -1}),
    ("tmc-shapley", {"seed": 2**32}),
    ("tmc-shapley", {"stop": -3}),
    ("beta-shapley", {"alpha": float("nan")}),
    ("banzhaf", {"batch_size": -1}),
    ("data-oob", {"seed": float("inf")}),
    ("knn-shapley", {"k": 0}),
    ("knn-shapley", {"k": -1}),
    ("kcenter", {"k": 0}),
    ("representative", {"n_clusters": 0}),
    ("exact-shapley", {"max_players": 0}),
    ("loo", {"unknown": 1}),
    ("influence", {"damping": float("nan")}),
]


@pytest.mark.parametrize(("name", "params"), METHOD_PARAMS)
def test_make_method_refuses(name: str, params: dict[str, object]) -> None:
    from assay.valuation import make_method

    with pytest.raises(AssayError) as info:
        make_method(name, **params)
    _assert_one_line(info.value)


@pytest.mark.parametrize("budget", [0, -1, 10**12, 2.5])
def test_make_method_refuses_budgets(budget: object) -> None:
    from assay.valuation import make_method

    with pytest.raises(AssayError):
        make_method("tmc-shapley", budget=budget)  # type: ignore[arg-type]


def test_exact_shapley_on_a_large_game_names_the_size() -> None:
    from assay.valuation import make_method
    from assay.valuation.games import AdditiveGame

    with pytest.raises(AssayError, match=r"2\^20 models"):
        make_method("exact-shapley").fit(AdditiveGame(np.ones(20)))


@pytest.mark.parametrize("corrupt", ["garbage", "empty", "wrong-identity-shape", "missing-arrays"])
def test_checkpoint_refuses_corrupt(corrupt: str, tmp_path: Path) -> None:
    from assay.valuation import make_method
    from assay.valuation.games import AdditiveGame

    ck = tmp_path / "ck.npz"
    game = AdditiveGame(np.ones(4))
    if corrupt == "garbage":
        ck.write_bytes(b"PK\x03\x04 garbage")
    elif corrupt == "empty":
        ck.write_bytes(b"")
    else:
        m = make_method("tmc-shapley", budget=4, checkpoint=ck)
        m.fit(game)
        z = dict(np.load(ck))
        if corrupt == "missing-arrays":
            z = {"__header__": z["__header__"]}  # the header of an assay checkpoint only
        else:
            z = {k: (v[:2] if v.ndim else v) for k, v in z.items()}
        np.savez(ck, **z)
    method = make_method("tmc-shapley", budget=8, checkpoint=ck)
    with pytest.raises(AssayError) as info:
        method.fit(game)
    _assert_one_line(info.value)
    assert "ck.npz" in str(info.value) and "delete it" in str(info.value)


@pytest.mark.parametrize(
    "kind", ["missing", "empty-dir", "broken-json", "wrong-format", "broken-tensors", "a-file"]
)
def test_explainer_load_refuses(kind: str, tmp_path: Path) -> None:
    from assay.explain import DataExplainer

    folder = tmp_path / "expl"
    if kind == "a-file":
        folder.write_text("x")
    elif kind != "missing":
        folder.mkdir()
    if kind in ("broken-json", "wrong-format", "broken-tensors"):
        meta = "{broken" if kind == "broken-json" else json.dumps({"format": 99})
        if kind == "broken-tensors":
            meta = json.dumps({"format": 1, "config": {}})
        (folder / "explainer.json").write_text(meta)
        (folder / "explainer.safetensors").write_bytes(b"\x00\x01")
        (folder / "models.safetensors").write_bytes(b"\x00\x01")
    with pytest.raises(AssayError) as info:
        DataExplainer.load(folder)
    _assert_one_line(info.value)


@pytest.mark.parametrize(
    "path",
    [
        "os.system",
        "subprocess.Popen",
        "builtins.eval",
        "sklearn",
        "sklearn.base.clone",
        "sklearn..X",
        "../x.Y",
        "sklearn.neighbors.NoSuch",
    ],
)
def test_sklearn_names_never_import_other_modules(path: str) -> None:
    import sys

    from assay.learners import make_learner

    before = set(sys.modules)
    with pytest.raises(AssayError):
        make_learner(f"sklearn:{path}")
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] in ("subprocess",)}


@pytest.mark.parametrize("where", ["under-file", "directory", "empty"])
def test_save_refuses_unwritable_paths(where: str, tmp_path: Path) -> None:
    from assay.result import ValuationResult

    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    path = {"under-file": tmp_path / "afile" / "v", "directory": tmp_path / "adir", "empty": ""}
    with pytest.raises(AssayError) as info:
        ValuationResult.exact([0, 1], [0.0, 1.0], "loo").save(path[where])
    _assert_one_line(info.value)
    _nothing_written(tmp_path, before)
