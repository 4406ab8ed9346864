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

        {"inputs": [[x_1, ..., x_d], ...],      # m inputs, d numbers each (required), or
                                                # named: [{"age": 31, ...}, ...] / {"age": 31, ...}
         "labels": ["7", ...],                  # label paid for, per input (default: predicted)
         "price": 1.0,                          # or one price per input (>= 0)
         "level": "point",                      # or "provider"
         "negative": "clip",                    # or "signed" (see assay.payouts)
         "top_k": 10}                           # payees returned per prediction (default all)

    Response: one entry per input with the label, its service-model probability, the total
    value v(1) - v(0), the rule used, and the payees (highest value first) with value and payout.

Bad requests get a 4xx with a message naming the problem: 422 for a malformed body, wrong shapes,
non-finite numbers, unknown labels or bad prices; 413 for more than ``max_batch`` inputs.

Exposure
--------
With ``token`` set (``assay serve --token T`` or the environment variable ``ASSAY_TOKEN``) every
request needs the header ``Authorization: Bearer T``, else 401. Without a token anyone who can
reach the port can query the service. A request body over ``max_body_bytes`` (default 8 MiB) is
refused with 413 before it is parsed: by its ``Content-Length`` when given, else by counting the
bytes of a streamed body as they arrive.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from assay.data.encode import TableEncoder
from assay.errors import AssayError, MissingDependencyError
from assay.explain.model import DataExplainer
from assay.payouts import payouts


def _require_fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise MissingDependencyError("serving needs: pip install 'assay[serve]'") from exc
    return fastapi


#: default limit of a request body (bytes)
MAX_BODY_BYTES = 8 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestGuard:
    """ASGI middleware: a bearer token on every request and a limit on the body's size.

    It runs before FastAPI reads anything: a request without the token gets 401, and a body
    over ``max_body_bytes`` gets 413 without being parsed (announced by ``Content-Length``, or
    counted while a streamed body arrives; the body is handed on only once it fits).

    Parameters
    ----------
    app : ASGI application
        The application behind the guard.
    token : str, optional
        The token every request must carry as ``Authorization: Bearer <token>``; ``None``
        lets every request through.
    max_body_bytes : int
        The largest request body accepted.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.token is not None and not self._authorised(headers.get("authorization")):
            await _reply(send, 401, "missing or wrong bearer token", bearer=True)
            return
        limit = self.max_body_bytes
        length = headers.get("content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                await _reply(send, 400, f"Content-Length is not a number: {length[:40]!r}")
                return
            if announced > limit:
                await _reply(send, 413, f"request body of {announced} bytes is over {limit}")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reply(send, 413, f"request body is over {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorised(self, header: bytes | None) -> bool:
        if header is None or self.token is None:
            return False
        scheme, _, given = header.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )


async def _reply(send: Send, status: int, detail: str, *, bearer: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    explainer: DataExplainer | str | Path,
    *,
    max_batch: int = 1024,
    token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """A FastAPI app serving ``explainer`` (an object or a folder written by ``save``).

    Parameters
    ----------
    explainer : DataExplainer or path
        The explainer, or the folder it was saved to.
    max_batch : int
        Most inputs per request (more: 413).
    token : str, optional
        Bearer token every request must carry (see :class:`RequestGuard`); ``None``: anyone
        who can reach the port can query.
    max_body_bytes : int
        Largest request body accepted (more: 413, before parsing).

    Returns
    -------
    fastapi.FastAPI
        The application.

    Raises
    ------
    InvalidParameterError
        If ``token`` is empty or ``max_body_bytes`` / ``max_batch`` is not positive.
    """
    from assay.errors import InvalidParameterError

    if token is not None and not token.strip():
        raise InvalidParameterError("the service token is empty; give a non-empty --token")
    for name, number in (("max_body_bytes", max_body_bytes), ("max_batch", max_batch)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidParameterError(f"{name} must be a whole number >= 1, got {number!r}")
    fastapi = _require_fastapi()
    from pydantic import BaseModel, ConfigDict, Field

    ex = explainer if isinstance(explainer, DataExplainer) else DataExplainer.load(explainer)
    Number = Annotated[float, Field(strict=False, allow_inf_nan=False)]
    Cell = Number | str | bool | None

    class AttributeRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        # a named row is a raw table row: numbers, strings, booleans or null (a missing value)
        inputs: list[list[Number]] | list[dict[str, Cell]] | dict[str, Cell] = Field(min_length=1)
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
        inputs = [request.inputs] if isinstance(request.inputs, dict) else request.inputs
        m = len(inputs)
        if m > max_batch:
            raise fail(413, f"at most {max_batch} inputs per request, got {m}")
        try:
            X = input_matrix(inputs, ex.n_features, ex.feature_names, ex.encoder)
        except AssayError as exc:
            raise fail(422, str(exc)) from exc
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
    app.add_middleware(RequestGuard, token=token, max_body_bytes=max_body_bytes)
    return app


def input_matrix(
    inputs: list[Any],
    n_features: int,
    feature_names: list[str] | None,
    encoder: TableEncoder | None = None,
) -> np.ndarray:
    """Rows as an (m, d) float matrix: each row a list of d numbers or an object by column name.

    With the training table's ``encoder`` (an explainer trained on a file), objects are raw
    table rows: the training table's feature columns, by name, with strings and nulls encoded
    as in training.

    Raises
    ------
    InvalidDataError
        A list of the wrong length, an object missing or adding feature names (named), named
        inputs to an explainer without feature names.
    """
    from assay.errors import InvalidDataError

    if encoder is not None and any(isinstance(row, dict) for row in inputs):
        import pandas as pd

        need, known = encoder.feature_columns, {*encoder.input_columns, encoder.target}
        for i, row in enumerate(inputs):
            if not isinstance(row, dict):
                raise InvalidDataError(f"input {i} is not an object of columns; send all so")
            missing = [c for c in need if c not in row]
            extra = sorted(c for c in row if c not in known)
            if missing or extra:
                raise InvalidDataError(
                    f"input {i}: missing columns {missing[:10]}, unknown names {extra[:10]} "
                    f"(the columns are {need[:20]})"
                )
        return encoder.transform(pd.DataFrame(inputs), "inputs", new_rows=True)
    X = np.empty((len(inputs), n_features), dtype=np.float64)
    names = None if feature_names is None else list(feature_names)
    for i, row in enumerate(inputs):
        if isinstance(row, dict):
            if names is None:
                raise InvalidDataError(
                    "this explainer was trained without feature names; send each input as a "
                    f"list of {n_features} numbers"
                )
            missing = [c for c in names if c not in row]
            extra = sorted(c for c in row if c not in set(names))
            if missing or extra:
                raise InvalidDataError(
                    f"input {i}: missing features {missing[:10]}, unknown names {extra[:10]} "
                    f"(the features are {names[:20]})"
                )
            text = [c for c in names if not isinstance(row[c], int | float)]
            if text:
                raise InvalidDataError(f"input {i}: non-numeric values for {text[:10]}")
            X[i] = [row[c] for c in names]
        else:
            if len(row) != n_features:
                bad = sum(1 for r in inputs if not isinstance(r, dict) and len(r) != n_features)
                raise InvalidDataError(
                    f"every input needs {n_features} numbers; input {i} has {len(row)} "
                    f"({bad} inputs have the wrong length)"
                )
            X[i] = row
    return X


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
    explainer: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = 1024,
    token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:  # pragma: no cover - blocking; tested through create_app with a real server
    """Run the service with uvicorn until interrupted (parameters as :func:`create_app`)."""
    _require_fastapi()
    import uvicorn

    app = create_app(explainer, max_batch=max_batch, token=token, max_body_bytes=max_body_bytes)
    uvicorn.run(app, host=host, port=port, log_level="info")
