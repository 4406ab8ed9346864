"""The service is safe to expose: a bearer token on every request, a body limit before parsing."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from assay.errors import InvalidParameterError
from assay.serve import MAX_BODY_BYTES, create_app
from tests.test_explain_support import one_thread, trained_explainer  # noqa: F401


@pytest.fixture(scope="module")
def guarded() -> TestClient:
    explainer, _ = trained_explainer()
    return TestClient(create_app(explainer, token="s3cret", max_body_bytes=2000))


def _body(n: int) -> dict[str, object]:
    return {"inputs": [[0.1, 0.2]] * n}


def test_every_request_needs_the_token(guarded: TestClient) -> None:
    for method, path in (("get", "/health"), ("get", "/info"), ("post", "/attribute")):
        r = guarded.request(method, path, json=_body(1) if method == "post" else None)
        assert r.status_code == 401, path
        assert r.json() == {"detail": "missing or wrong bearer token"}
        assert r.headers["www-authenticate"] == "Bearer"
    wrong = guarded.get("/health", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = guarded.get("/health", headers={"Authorization": "Basic s3cret"})
    assert basic.status_code == 401
    ok = guarded.get("/health", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json() == {"status": "ok"}


def test_attribute_with_the_token_works(guarded: TestClient) -> None:
    r = guarded.post("/attribute", json=_body(2), headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


def test_a_body_over_the_limit_is_refused_by_content_length(guarded: TestClient) -> None:
    raw = json.dumps(_body(200)).encode()
    assert len(raw) > 2000
    r = guarded.post(
        "/attribute",
        content=raw,
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"detail": f"request body of {len(raw)} bytes is over 2000"}


def test_a_streamed_body_over_the_limit_is_counted_and_refused(guarded: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 300  # no Content-Length: sent chunked

    r = guarded.post(
        "/attribute",
        content=chunks(),
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"detail": "request body is over 2000 bytes"}


def test_without_a_token_anyone_can_query_and_the_default_limit_is_8_mib() -> None:
    explainer, _ = trained_explainer()
    client = TestClient(create_app(explainer))
    assert client.get("/health").status_code == 200
    assert MAX_BODY_BYTES == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"token": " "}, "token is empty"),
        ({"max_body_bytes": 0}, "max_body_bytes must be a whole number >= 1, got 0"),
    ],
)
def test_bad_guard_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    explainer, _ = trained_explainer()
    with pytest.raises(InvalidParameterError, match=match):
        create_app(explainer, **kwargs)  # type: ignore[arg-type]
