"""Batched ridge regression in closed form: many weighted subsets solved as one tensor program.

Model b minimises the objective of scikit-learn's ``Ridge(alpha)`` with ``sample_weight =
weights[b]``:

    f_b(beta, c) = sum_i w_bi (y_i - x_i . beta - c)^2 + alpha ||beta||^2,

the intercept ``c`` unpenalised. Centring every model's features and targets by its own weighted
means removes the intercept, and then

    (Xc^T diag(w_b) Xc + alpha I) beta_b = Xc^T diag(w_b) yc,    c_b = ybar_b - xbar_b . beta_b,

for all B models at once: one batched Gram product and one batched Cholesky solve. ``alpha = 0``
is ordinary least squares, solved with the pseudo-inverse (the minimum-norm solution when a
subset has fewer rows than features). A model whose weights sum to zero is not trained.
"""

from __future__ import annotations

from typing import Any

import torch

from assay.errors import InvalidParameterError
from assay.learners.base import FittedModels, TorchLearner, TrainingData, models_per_chunk

Tensor = torch.Tensor


class FittedRidge(FittedModels):
    """B fitted linear models: ``coef`` (B, d), ``intercept`` (B,); predictions ``X coef + c``."""

    def __init__(self, coef: Tensor, intercept: Tensor, trained: Tensor) -> None:
        self.coef, self.intercept, self.trained = coef, intercept, trained
        self.present = torch.zeros((coef.shape[0], 0), dtype=torch.bool, device=coef.device)

    @property
    def n_models(self) -> int:
        return int(self.coef.shape[0])

    def predict(self, X: Tensor) -> Tensor:
        """Predictions of every model, shape (B, m), for inputs ``X`` (m, d)."""
        return self.coef @ X.to(self.coef.dtype).T + self.intercept[:, None]

    def predict_proba(self, X: Tensor) -> Tensor:
        raise InvalidParameterError(
            "ridge is a regressor: it predicts values, not class probabilities"
        )


class RidgeRegression(TorchLearner):
    """Ridge (L2) linear regression fitted in closed form for many subsets at once.

    Parameters
    ----------
    alpha : float
        L2 strength (scikit-learn's ``Ridge(alpha)``); 0 is ordinary least squares.
    fit_intercept : bool
        Fit an unpenalised intercept.
    dtype : {"float64", "float32"}
    device : str
        ``"cpu"`` or a CUDA device.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from assay.data import Dataset
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2))
    >>> data = Dataset.from_arrays(X, X @ [1.5, -2.0] + 0.5, task="regression")
    >>> ridge = RidgeRegression(alpha=1e-9)
    >>> fitted = ridge.fit(ridge.prepare(data), torch.ones(2, 30, dtype=torch.float64))
    >>> fitted.coef[0].round(decimals=6).tolist(), round(float(fitted.intercept[0]), 6)
    ([1.5, -2.0], 0.5)
    """

    name = "ridge"
    task = "regression"

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        dtype: str = "float64",
        device: str = "cpu",
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self._place(dtype, device)
        if not alpha >= 0:  # also refuses NaN
            raise InvalidParameterError(f"alpha must be >= 0, got {alpha}")

    def get_params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "fit_intercept": self.fit_intercept,
            "dtype": self.dtype_name,
            "device": self.device_name,
        }

    def batch_size_hint(self, data: TrainingData) -> int:
        """Models per fit: two (n, d) centred copies and a (d, d) system per model."""
        n, d = data.X.shape
        itemsize = torch.finfo(self.dtype).bits // 8
        return models_per_chunk((3 * n * d + 3 * d * d + 2 * n) * itemsize, device=self.device)

    def fit(self, data: TrainingData, weights: Tensor, init: Any = None) -> FittedRidge:
        """Fit one model per row of ``weights`` (B, n); rows summing to zero stay untrained."""
        if data.n_classes:
            raise InvalidParameterError(
                "ridge is a regressor but the data has classes; build it with task='regression'"
            )
        W = weights.to(dtype=self.dtype, device=self.device)
        X, y = data.X.to(self.dtype), data.y.to(self.dtype)
        total = W.sum(1)
        trained = total > 0
        safe = torch.where(trained, total, torch.ones_like(total))
        if self.fit_intercept:
            xbar = (W @ X) / safe[:, None]  # (B, d)
            ybar = (W @ y) / safe  # (B,)
        else:
            xbar = torch.zeros((W.shape[0], X.shape[1]), dtype=self.dtype, device=self.device)
            ybar = torch.zeros(W.shape[0], dtype=self.dtype, device=self.device)
        Xc = X[None] - xbar[:, None, :]  # (B, n, d): centring per model keeps the Gram exact
        WXc = W[:, :, None] * Xc
        gram = WXc.transpose(1, 2) @ Xc  # (B, d, d)
        rhs = (WXc.transpose(1, 2) @ (y[None, :] - ybar[:, None])[:, :, None])[..., 0]
        coef = self._solve(gram, rhs)
        coef = torch.where(trained[:, None], coef, 0.0)
        intercept = torch.where(trained, ybar - (xbar * coef).sum(1), 0.0)
        return FittedRidge(coef, intercept, trained)

    def _solve(self, gram: Tensor, rhs: Tensor) -> Tensor:
        d = gram.shape[-1]
        if self.alpha > 0:
            A = gram + self.alpha * torch.eye(d, dtype=gram.dtype, device=gram.device)
            L, info = torch.linalg.cholesky_ex(A)
            sol = torch.cholesky_solve(rhs[..., None], L)[..., 0]
            bad = info != 0
            if bool(bad.any()):  # numerically indefinite (float32, huge scales): least squares
                sol[bad] = (torch.linalg.pinv(A[bad], hermitian=True) @ rhs[bad][..., None])[..., 0]
            return sol
        return (torch.linalg.pinv(gram, hermitian=True) @ rhs[..., None])[..., 0]
