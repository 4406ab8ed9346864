"""cleanlab's recipe on a CSV, as a user runs it (one whole process, timed by the caller).

``python benchmarks/peers/cleanlab_audit.py DATA.csv TARGET --model lr|hgb --out OUT.npz``

5-fold out-of-fold probabilities (``cross_val_predict``, stratified, shuffled) of

- ``lr``: one-hot (``handle_unknown="ignore"``) + median / most-frequent imputation + standard
  scaling + scikit-learn ``LogisticRegression(max_iter=1000)``;
- ``hgb``: ``HistGradientBoostingClassifier`` with native categorical columns (string columns
  ordinal-coded; those with more than 255 levels as plain codes),

then ``cleanlab.rank.get_label_quality_scores`` (self-confidence, cleanlab's default) and
``cleanlab.filter.find_label_issues`` (its default ``prune_by_noise_rate``). Writes the scores,
the flags and the class coding to OUT.npz.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("target")
    ap.add_argument("--model", choices=("lr", "hgb"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    df = pd.read_csv(a.data)
    df = df[df[a.target].notna()].reset_index(drop=True)
    classes, y = np.unique(df[a.target].astype(str), return_inverse=True)
    X = df.drop(columns=[a.target])
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    if a.model == "lr":
        pre = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    cat,
                ),
            ]
        )
        model = make_pipeline(pre, LogisticRegression(max_iter=1000))
    else:
        small = [c for c in cat if X[c].nunique() <= 255]
        big = [c for c in cat if c not in small]
        pre = ColumnTransformer(
            [
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=-1,
                        encoded_missing_value=np.nan,
                    ),
                    small,
                ),
                (
                    "big",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=-1,
                        encoded_missing_value=np.nan,
                    ),
                    big,
                ),
                ("num", "passthrough", num),
            ]
        )
        mask = [True] * len(small) + [False] * (len(big) + len(num))
        hgb = HistGradientBoostingClassifier(categorical_features=mask, random_state=a.seed)
        model = make_pipeline(pre, hgb)
    cv = StratifiedKFold(5, shuffle=True, random_state=a.seed)
    proba = cross_val_predict(model, X, y, cv=cv, method="predict_proba")
    scores = get_label_quality_scores(y, proba)
    issues = find_label_issues(y, proba)
    np.savez(a.out, scores=scores, issues=issues, classes=classes.astype(str))


if __name__ == "__main__":
    main()
