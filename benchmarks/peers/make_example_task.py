"""Write a small example task (.npz) for checking the peer scripts.

Breast cancer (scikit-learn, bundled), stratified 60/20/20 split (``train_test_split`` with
``random_state=0``), standardised with a ``StandardScaler`` fitted on train, and exactly 34 train
labels flipped (indices drawn with ``numpy.random.default_rng(0)``). The real benchmark writes
its task file from assay's own split; this one only mirrors its layout.

Run (any Python with numpy and scikit-learn)::

    .venv-peers/bin/python benchmarks/peers/make_example_task.py /tmp/bc_task.npz

Arrays written: X_train, y_train (int 0/1, after flipping), X_valid, y_valid, X_test, y_test,
flipped (sorted indices of the flipped train labels), y_train_clean (labels before flipping).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def make_task(n_flip: int = 34, seed: int = 0) -> dict[str, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=seed
    )
    X_valid, X_test, y_valid, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(y_train), size=n_flip, replace=False))
    y_noisy = y_train.copy()
    y_noisy[flipped] = 1 - y_noisy[flipped]
    return {
        "X_train": scaler.transform(X_train),
        "y_train": y_noisy.astype(np.int64),
        "X_valid": scaler.transform(X_valid),
        "y_valid": y_valid.astype(np.int64),
        "X_test": scaler.transform(X_test),
        "y_test": y_test.astype(np.int64),
        "flipped": flipped.astype(np.int64),
        "y_train_clean": y_train.astype(np.int64),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="path of the .npz to write")
    parser.add_argument("--n-flip", type=int, default=34)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = make_task(args.n_flip, args.seed)
    np.savez_compressed(args.out, **task)
    sizes = ", ".join(f"{k} {v.shape}" for k, v in task.items())
    print(f"wrote {args.out}: {sizes}")


if __name__ == "__main__":
    main()
