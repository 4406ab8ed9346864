"""The HTTP service, over real HTTP: uvicorn on a free localhost port, requests with httpx."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from assay.serve import create_app
from tests.test_explain_support import one_thread, trained_explainer  # noqa: F401


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, object]]:
    import uvicorn

    explainer, task = trained_explainer()
    folder = explainer.save(tmp_path_factory.mktemp("serve") / "expl")
    app = create_app(folder, max_batch=50)  # loaded from disk, as `assay serve` does
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", task
    srv.should_exit = True
    thread.join(timeout=10)


def test_health_and_info(server) -> None:
    url, _ = server
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    info = httpx.get(f"{url}/info").json()
    assert info["n_players"] == 8 and info["n_features"] == 2 and info["n_providers"] == 4


def test_attribute_round_trip_matches_the_library(server) -> None:
    url, task = server
    explainer, _ = trained_explainer()
    X = task.test.X[:3]
    r = httpx.post(f"{url}/attribute", json={"inputs": X.tolist(), "price": [10.0, 5.0, 0.0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["variant"] == "fds" and len(body["predictions"]) == 3
    values = explainer.values(X)
    y = explainer.predict(X)
    for j, pred in enumerate(body["predictions"]):
        assert pred["label"] == explainer.classes[y[j]]
        got = {p["payee"]: p["value"] for p in pred["payees"]}
        np.testing.assert_allclose([got[i] for i in range(8)], values[j], rtol=1e-6)
        assert sum(p["payout"] for p in pred["payees"]) == pytest.approx([10.0, 5.0, 0.0][j])
        assert pred["total_value"] == pytest.approx(values[j].sum(), abs=1e-6)
        ranked = [p["value"] for p in pred["payees"]]
        assert ranked == sorted(ranked, reverse=True)


def test_labels_providers_and_top_k(server) -> None:
    url, task = server
    X = task.test.X[:2].tolist()
    r = httpx.post(
        f"{url}/attribute",
        json={"inputs": X, "labels": [1, "0"], "level": "provider", "top_k": 2, "price": 3},
    )
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["label"] for p in preds] == [1, 0]
    assert all(len(p["payees"]) == 2 for p in preds)
    assert {q["payee"] for q in preds[0]["payees"]} <= {"p0", "p1", "p2", "p3"}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"inputs": [[1.0, 2.0, 3.0]]}, 422, "needs 2 numbers"),
        ({"inputs": []}, 422, "at least 1"),
        ({"inputs": [["a", "b"]]}, 422, "valid number"),
        ({"inputs": [[1.0, 2.0]], "labels": ["cat"]}, 422, "unknown labels"),
        ({"inputs": [[1.0, 2.0]], "labels": [0, 1]}, 422, "labels must have 1"),
        ({"inputs": [[1.0, 2.0]], "price": -1}, 422, "greater than or equal to 0"),
        ({"inputs": [[1.0, 2.0]], "price": [1.0, 2.0]}, 422, "one number or 1"),
        ({"inputs": [[1.0, 2.0]], "level": "group"}, 422, "level"),
        ({"inputs": [[1.0, 2.0]], "surprise": 1}, 422, "Extra inputs"),
        ({"inputs": [[1.0, 2.0]] * 51}, 413, "at most 50"),
        ({"inputs": "1,2"}, 422, "valid list"),
    ],
)
def test_bad_payloads_get_a_clear_4xx(server, body, status, needle) -> None:
    url, _ = server
    r = httpx.post(f"{url}/attribute", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_non_finite_and_malformed_json_are_422(server) -> None:
    url, _ = server
    headers = {"content-type": "application/json"}
    r = httpx.post(f"{url}/attribute", content=b'{"inputs": [[NaN, 1.0]]}', headers=headers)
    assert r.status_code == 422 and "finite" in r.json()["detail"]
    r = httpx.post(f"{url}/attribute", content=b'{"inputs": [[1.0, ', headers=headers)
    assert r.status_code == 422
