"""scikit-learn's bundled toy tables read from its data files, without importing scikit-learn.

``sklearn.datasets`` pulls in SciPy's statistics and more: ~0.5 s of start-up beyond the
``sklearn.model_selection`` the seeded split still imports, for tables that are small CSV files
inside the installed package.
:func:`read_table` reads them exactly as ``sklearn.datasets.load_<name>()`` does (a test pins the
two equal) and falls back to scikit-learn when the files are not where they used to be.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

# scikit-learn keeps these names in its code, not in the data files
_PARTS = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
_BREAST_CANCER = (
    [f"mean {p}" for p in _PARTS] + [f"{p} error" for p in _PARTS] + [f"worst {p}" for p in _PARTS]
)
_WINE = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
]
_DIGITS = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]

#: name -> (file, whether its first line is a "n_samples,n_features,class names" header, names)
FILES: dict[str, tuple[str, bool, list[str]]] = {
    "breast_cancer": ("breast_cancer.csv", True, _BREAST_CANCER),
    "wine": ("wine_data.csv", True, _WINE),
    "digits": ("digits.csv.gz", False, _DIGITS),
}


def _data_dir() -> Path | None:
    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def read_table(name: str) -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
    """Features, integer labels and feature names of one of :data:`FILES`.

    Parameters
    ----------
    name : str
        ``"breast_cancer"``, ``"wine"`` or ``"digits"``.

    Returns
    -------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    feature_names : list of str
    """
    file, header, names = FILES[name]
    folder = _data_dir()
    path = None if folder is None else folder / file
    if path is None or not path.is_file():
        return from_sklearn(name)
    with gzip.open(path, "rt") if file.endswith(".gz") else open(path) as handle:
        table = np.loadtxt(handle, delimiter=",", skiprows=int(header), dtype=np.float64)
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    if X.shape[1] != len(names):
        return from_sklearn(name)  # a changed file layout: let scikit-learn read it
    return X, y, list(names)


def from_sklearn(name: str) -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = [str(f) for f in bunch.feature_names]
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names
