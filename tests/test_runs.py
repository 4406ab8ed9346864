"""The run folder: atomic writes, umask, overwrite refusal, pairs, suffixes, checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.errors import (
    CorruptArtifactError,
    InvalidDataError,
    OutputExistsError,
    RunMismatchError,
)
from assay.result import ValuationResult
from assay.runs import (
    DIGEST_SIZE,
    atomic_write_bytes,
    atomic_write_table,
    digest,
    read_checkpoint,
    read_pair,
    run_identity,
    sibling,
    sidecar_path,
    with_extension,
    write_checkpoint,
    write_pair,
)


def _result(values: list[float], method: str = "toy") -> ValuationResult:
    return ValuationResult.exact(np.arange(len(values)), values, method, seed=1)


def test_outputs_get_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        p = atomic_write_bytes(tmp_path / "a.bin", b"x")
        assert (p.stat().st_mode & 0o777) == 0o640
        os.umask(0o002)
        saved = _result([1.0, 2.0]).save(tmp_path / "v.parquet")
        assert (saved.stat().st_mode & 0o777) == 0o664
        assert (sidecar_path(saved).stat().st_mode & 0o777) == 0o664
    finally:
        os.umask(old)


def test_existing_outputs_are_refused_unless_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "v.parquet"
    _result([1.0, 2.0]).save(p)
    with pytest.raises(OutputExistsError, match=r"v\.parquet.*--overwrite \(overwrite=True\)"):
        _result([3.0, 4.0]).save(p)
    assert ValuationResult.load(p).values.tolist() == [1.0, 2.0]
    _result([3.0, 4.0]).save(p, overwrite=True)
    assert ValuationResult.load(p).values.tolist() == [3.0, 4.0]
    with pytest.raises(OutputExistsError):
        atomic_write_table(tmp_path / "t.csv", pd.DataFrame({"a": [1]}))
        atomic_write_table(tmp_path / "t.csv", pd.DataFrame({"a": [1]}))
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_suffixes_are_appended_never_replaced(tmp_path: Path) -> None:
    assert with_extension("run.v1", ".parquet").name == "run.v1.parquet"
    assert with_extension("run.parquet", ".parquet").name == "run.parquet"
    assert sidecar_path(Path("run.v1.parquet")).name == "run.v1.json"
    assert sibling("run.v1.parquet", ".flipped.csv").name == "run.v1.flipped.csv"
    saved = _result([1.0]).save(tmp_path / "run.v1")
    assert saved.name == "run.v1.parquet" and (tmp_path / "run.v1.json").exists()
    assert ValuationResult.load(saved).method == "toy"


class _FailSecond:
    """``os.replace`` that fails on its second call (a crash between the two renames)."""

    def __init__(self) -> None:
        self.calls, self.real = 0, os.replace

    def __call__(self, src: str, dst: str) -> None:
        self.calls += 1
        if self.calls == 2:
            raise OSError("disk gone")
        self.real(src, dst)


def test_a_failed_pair_write_leaves_neither_half(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "v.parquet"
    monkeypatch.setattr(os, "replace", _FailSecond())
    with pytest.raises(OSError, match="disk gone"):
        _result([1.0, 2.0]).save(p)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == []  # no values without sidecar, no temporary files


def test_a_failed_overwrite_keeps_the_old_pair(tmp_path: Path, monkeypatch) -> None:
    p = _result([1.0, 2.0], "old").save(tmp_path / "v.parquet")
    monkeypatch.setattr(os, "replace", _FailSecond())
    with pytest.raises(OSError):
        _result([5.0, 6.0], "new").save(p, overwrite=True)
    monkeypatch.undo()
    r = ValuationResult.load(p)
    assert (r.method, r.values.tolist()) == ("old", [1.0, 2.0])
    assert sorted(os.listdir(tmp_path)) == ["v.json", "v.parquet"]


def test_values_file_describes_itself_and_stale_sidecars_lose(tmp_path: Path, caplog) -> None:
    p = write_pair(tmp_path / "v.parquet", pd.DataFrame({"id": [0], "value": [1.0]}), {"m": 1})
    sidecar_path(p).unlink()  # a kill between the two renames
    assert read_pair(p)[1]["m"] == 1
    sidecar_path(p).write_text('{"m": 2, "pair": "someone else"}')
    _, meta = read_pair(p)
    assert meta is not None and meta["m"] == 1 and "does not belong" in caplog.text
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorruptArtifactError, match=r"bad\.parquet.*corrupt or unreadable"):
        ValuationResult.load(tmp_path / "bad.parquet")


def test_one_hash_one_digest_size() -> None:
    assert len(digest(b"x")) == DIGEST_SIZE == 16
    assert len(run_identity({"a": 1})) == 2 * DIGEST_SIZE
    assert run_identity({"a": 1, "b": 2}) == run_identity({"b": 2, "a": 1})
    from assay.data import Dataset
    from assay.embed.cache import EmbeddingCache, array_fingerprint
    from assay.utility.cache import subset_keys

    ds = Dataset.from_arrays(np.eye(3), [0, 1, 0])
    assert len(ds.fingerprint()) == len(array_fingerprint(np.eye(2))) == 2 * DIGEST_SIZE
    assert len(EmbeddingCache.key({"k": 1})) == 2 * DIGEST_SIZE
    assert {len(k) for k in subset_keys(np.eye(3))} == {DIGEST_SIZE}


def test_checkpoint_round_trip_mismatch_and_restart(tmp_path: Path) -> None:
    p = tmp_path / "c.npz"
    a = np.random.default_rng(0).random(5)
    write_checkpoint(p, kind="k", identity="i1", arrays={"a": a}, header={"round": 3})
    ck = read_checkpoint(p, kind="k", identity="i1")
    assert ck is not None and ck.header["round"] == 3
    np.testing.assert_array_equal(ck["a"], a)
    with pytest.raises(RunMismatchError, match=r"belongs to another run.*--restart"):
        read_checkpoint(p, kind="k", identity="i2")
    with pytest.raises(InvalidDataError, match="not a j checkpoint"):
        read_checkpoint(p, kind="j", identity="i1")
    assert read_checkpoint(p, kind="k", identity="i2", restart=True) is None
    assert not p.exists()
    p.write_bytes(b"garbage")
    with pytest.raises(InvalidDataError, match=r"unreadable.*--restart"):
        read_checkpoint(p, kind="k", identity="i1")


def test_the_three_loops_share_the_checkpoint_format(tmp_path: Path) -> None:
    import json

    from assay.data import Dataset
    from assay.select.active import ActiveLearning
    from assay.utility import Utility
    from assay.valuation import MSRBanzhaf

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    train = Dataset.from_arrays(X[:20], y[:20])
    valid = Dataset.from_arrays(X[20:], y[20:], ids=np.arange(20, 40))
    u = Utility("logistic", train, valid)
    MSRBanzhaf(200, batch_size=100, seed=1, checkpoint=tmp_path / "s.npz").fit(u)
    lab = Dataset.from_arrays(X[:6], np.array([0, 1] * 3), classes=[0, 1])
    pool = Dataset.from_arrays(X[6:30], y[6:30], classes=[0, 1], ids=np.arange(100, 124))
    test = Dataset.from_arrays(X[30:], y[30:], classes=[0, 1])
    ActiveLearning("logistic", "random", batch_size=4, rounds=2, state_dir=tmp_path / "al").run(
        lab, pool, test
    )
    kinds = {}
    for f in (tmp_path / "s.npz", tmp_path / "al" / "state.npz"):
        with np.load(f) as z:
            head = json.loads(str(z["__header__"]))
        kinds[f.name] = (head["format"], head["version"], head["kind"])
    assert kinds == {
        "s.npz": ("assay-checkpoint", 1, "sampling"),
        "state.npz": ("assay-checkpoint", 1, "active-learning"),
    }
    # restart discards another run's checkpoint instead of refusing it
    with pytest.raises(RunMismatchError, match="--restart"):
        MSRBanzhaf(200, batch_size=100, seed=2, checkpoint=tmp_path / "s.npz").fit(u)
    fresh = MSRBanzhaf(200, batch_size=100, seed=2).fit(u)
    again = MSRBanzhaf(200, batch_size=100, seed=2, checkpoint=tmp_path / "s.npz")
    again.restart = True  # as `assay value --restart` sets it
    np.testing.assert_array_equal(again.fit(u).values, fresh.values)
