"""An HTTP service that values training data and splits payments for each paid prediction.

``create_app(explainer)`` builds a FastAPI application around a trained
:class:`~assay.explain.DataExplainer` (or the folder it was saved to); ``assay serve --explainer
DIR --port P`` runs it with uvicorn. Needs the extra ``pip install 'assay[serve]'``.

Endpoints
---------
``GET /health``
    ``{"status": "ok"}``.
``GET /info``
    Variant, number of training points, features, classes and providers.
``POST /attribute``
    Body (JSON)::

        {"inputs": [[x_1, ..., x_d], ...],      # m inputs, d numbers each (required)
         "labels": ["7", ...],                  # label paid for, per input (default: predicted)
         "price": 1.0,                          # or one price per input (>= 0)
         "level": "point",                      # or "provider"
         "negative": "clip",                    # or "signed" (see assay.payouts)
         "top_k": 10}                           # payees returned per prediction (default all)

    Response: one entry per input with the label, its service-model probability, the total
    value v(1) - v(0), the rule used, and the payees (highest value first) with value and payout.

Bad requests get a 4xx with a message naming the problem: 422 for a malformed body, wrong shapes,
non-finite numbers, unknown labels or bad prices; 413 for more than ``max_batch`` inputs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from assay.errors import AssayError, MissingDependencyError
from assay.explain.model import DataExplainer
from assay.payouts import payouts


def _require_fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise MissingDependencyError("serving needs: pip install 'assay[serve]'") from exc
    return fastapi


def create_app(explainer: DataExplainer | str | Path, *, max_batch: int = 1024) -> Any:
    """A FastAPI app serving ``explainer`` (an object or a folder written by ``save``)."""
    fastapi = _require_fastapi()
    from pydantic import BaseModel, ConfigDict, Field

    ex = explainer if isinstance(explainer, DataExplainer) else DataExplainer.load(explainer)
    Number = Annotated[float, Field(strict=False, allow_inf_nan=False)]

    class AttributeRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inputs: list[list[Number]] = Field(min_length=1)
        labels: list[str | int] | None = None
        price: (
            Annotated[float, Field(ge=0, allow_inf_nan=False)]
            | list[Annotated[float, Field(ge=0, allow_inf_nan=False)]]
        ) = 1.0
        level: Literal["point", "provider"] = "point"
        negative: Literal["clip", "signed"] = "clip"
        top_k: Annotated[int, Field(ge=1)] | None = None

    app = fastapi.FastAPI(
        title="assay attribution",
        description="Per-prediction values of training data and payouts (Fast-DataShapley).",
    )

    def fail(status: int, message: str) -> Any:
        return fastapi.HTTPException(status_code=status, detail=message)

    async def invalid_body(request: Any, exc: Any) -> Any:
        """422 with the problems listed, without echoing the input (it may hold NaN, which
        JSON cannot carry, and may be large)."""
        from fastapi.responses import JSONResponse

        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e["type"]}
            for e in exc.errors()
        ]
        lines = [f"{'.'.join(e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        return JSONResponse(
            status_code=422, content={"detail": "; ".join(lines) + more, "errors": errors}
        )

    def health() -> dict[str, str]:
        return {"status": "ok"}

    def info() -> dict[str, Any]:
        return {
            "variant": ex.variant,
            "n_players": ex.n_players,
            "n_features": ex.n_features,
            "feature_names": ex.feature_names,
            "classes": ex.classes.tolist(),
            "n_providers": None if ex.providers is None else len(np.unique(ex.providers)),
            "max_batch": max_batch,
        }

    def attribute(request: AttributeRequest) -> dict[str, Any]:
        m = len(request.inputs)
        if m > max_batch:
            raise fail(413, f"at most {max_batch} inputs per request, got {m}")
        bad = [i for i, row in enumerate(request.inputs) if len(row) != ex.n_features]
        if bad:
            i = bad[0]
            raise fail(
                422,
                f"every input needs {ex.n_features} numbers; input {i} has "
                f"{len(request.inputs[i])} ({len(bad)} inputs have the wrong length)",
            )
        X = np.asarray(request.inputs, dtype=np.float64)
        prices = request.price
        if isinstance(prices, list) and len(prices) != m:
            raise fail(422, f"price must be one number or {m} numbers, got {len(prices)}")
        if request.level == "provider" and ex.providers is None:
            raise fail(422, "this explainer has no provider ids; use level 'point'")
        try:
            if request.labels is None:
                y = ex.predict(X)
            else:
                if len(request.labels) != m:
                    raise fail(422, f"labels must have {m} entries, got {len(request.labels)}")
                y = _encode(ex, request.labels)
            values = ex.values(X, y)
            proba = ex.predict_proba(X)
            table = payouts(
                values,
                prices,
                ids=ex.ids,
                providers=ex.providers,
                negative=request.negative,
                level=request.level,
            )
        except AssayError as exc:
            raise fail(422, str(exc)) from exc
        return {
            "variant": ex.variant,
            "level": request.level,
            "predictions": _predictions(ex, table, y, proba, values, request.top_k),
        }

    # local classes are invisible to FastAPI's resolution of postponed annotations: bind them
    attribute.__annotations__["request"] = AttributeRequest
    app.add_exception_handler(fastapi.exceptions.RequestValidationError, invalid_body)
    app.get("/health")(health)
    app.get("/info")(info)
    app.post("/attribute")(attribute)
    return app


def _encode(ex: DataExplainer, labels: list[str | int]) -> Any:
    """Label values as codes; labels match the classes by their string form."""
    lookup = {str(c): i for i, c in enumerate(ex.classes.tolist())}
    unknown = [lab for lab in labels if str(lab) not in lookup]
    if unknown:
        from assay.errors import InvalidDataError

        raise InvalidDataError(f"unknown labels {unknown[:5]}; known labels: {list(lookup)[:20]}")
    return np.array([lookup[str(lab)] for lab in labels], dtype=np.int64)


def _predictions(
    ex: DataExplainer, table: Any, y: Any, proba: Any, values: Any, top_k: int | None
) -> list[dict[str, Any]]:
    out = []
    for j, rows in table.groupby("prediction", sort=True):
        rows = rows.sort_values("value", ascending=False, kind="stable")
        if top_k is not None:
            rows = rows.head(top_k)
        out.append(
            {
                "label": _plain(ex.classes[int(y[j])]),
                "probability": float(proba[j, int(y[j])]),
                "total_value": float(values[j].sum()),
                "price": float(rows["payout"].sum()) if top_k is None else None,
                "rule": str(rows["rule"].iloc[0]),
                "payees": [
                    {
                        "payee": _plain(r.payee),
                        "provider": _plain(r.provider),
                        "value": float(r.value),
                        "payout": float(r.payout),
                    }
                    for r in rows.itertuples()
                ],
            }
        )
    return out


def _plain(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def serve(
    explainer: str | Path, *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 1024
) -> None:  # pragma: no cover - blocking; tested through create_app with a real server
    """Run the service with uvicorn until interrupted."""
    _require_fastapi()
    import uvicorn

    uvicorn.run(create_app(explainer, max_batch=max_batch), host=host, port=port, log_level="info")
