"""A real two-node Ray cluster on 127.0.0.1: the same values as in-process; a dead node loses none.

The head and one worker node are started with ``ray start --block`` in their own process groups
(so killing a group kills exactly that node), bound to the loopback address only. assay connects
with ``backend("ray", address=...)`` as ``assay value --backend ray --address HOST:PORT`` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assay.parallel import backend, map_tasks
from assay.utility import Utility
from assay.valuation import DataOOB, TMCShapley

pytestmark = pytest.mark.slow

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
# Everything stays on loopback. Ray rewrites 127.0.0.1 (given as a node's address or as the
# cluster address) to the machine's interface address so that other machines could reach it; on
# one machine that must not happen, so nodes and driver keep the address they are given. They
# share the cluster's token.
AUTH_ENV = {"RAY_AUTH_MODE": "token"}
NODE = (
    "import sys\n"
    "import ray._private.services as services\n"
    "services.resolve_ip_for_localhost = lambda host: host\n"
    "from ray.scripts.scripts import main\n"
    "sys.argv = ['ray', *sys.argv[1:]]\n"
    "main()\n"
)


def _keep_loopback() -> None:
    import ray._private.services as services

    services.resolve_ip_for_localhost = lambda host: host


def _use_token() -> None:
    os.environ.update(AUTH_ENV)
    if "ray" in sys.modules:  # imported earlier in this session: Ray reads the mode at import
        from ray._private.authentication import authentication_token_setup

        authentication_token_setup._enable_token_auth()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(args: list[str], tmp: Path, name: str) -> subprocess.Popen[bytes]:
    log = (tmp / f"{name}.log").open("wb")
    env = {**os.environ, **AUTH_ENV, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    node = ["start", "--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", *args]
    return subprocess.Popen(
        [sys.executable, "-c", NODE, *node],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _alive_nodes(ray: object) -> int:
    return sum(1 for n in ray.nodes() if n["Alive"])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    _use_token()
    ray = pytest.importorskip("ray")
    _keep_loopback()
    if RAY is None:
        pytest.skip("the ray command line is not installed")
    if ray.is_initialized():
        ray.shutdown()
    tmp = tmp_path_factory.mktemp("ray")
    if not (Path.home() / ".ray" / "auth_token").exists():  # the token both nodes and we share
        subprocess.run([RAY, "get-auth-token", "--generate"], check=True, capture_output=True)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(
        ["--head", f"--port={port}", "--include-dashboard=false"],
        tmp,
        "head",
    )
    worker = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                ray.init(address=address, log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                time.sleep(1)
        else:
            pytest.skip(f"no Ray head came up: {(tmp / 'head.log').read_text()[-2000:]}")
        worker = _start_node([f"--address={address}"], tmp, "worker")
        while _alive_nodes(ray) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert _alive_nodes(ray) == 2, (tmp / "worker.log").read_text()[-2000:]
        addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
        assert addresses == {"127.0.0.1"}, f"Ray left loopback: {addresses}"
        yield {"address": address, "worker": worker, "ray": ray}
    finally:
        ray.shutdown()
        if worker is not None:
            _kill(worker)
        _kill(head)


def _node_of(seconds: float) -> str:
    import ray

    time.sleep(seconds)
    return str(ray.get_runtime_context().get_node_id())


def _fit_all(train, valid, checkpoint: Path | None = None) -> dict[str, np.ndarray]:
    u = Utility("logistic", train, valid, batch_size=64)
    return {
        "tmc": TMCShapley(8, batch_size=4, seed=5, checkpoint=checkpoint).fit(u).values,
        "oob": DataOOB(128, batch_size=64, seed=5).fit(u).values,
    }


def test_work_spreads_over_both_nodes_with_the_same_values(cluster, noisy_breast_cancer) -> None:
    (train, valid, _), _ = noisy_breast_cancer
    local = _fit_all(train, valid)
    with backend("ray", address=str(cluster["address"])):
        nodes = set(map_tasks(_node_of, [1.0] * 4))
        remote = _fit_all(train, valid)
    assert len(nodes) == 2, f"tasks ran on {len(nodes)} node(s)"
    for key in local:
        np.testing.assert_array_equal(local[key], remote[key])


def test_a_killed_worker_node_loses_no_finished_batch(
    cluster, noisy_breast_cancer, tmp_path
) -> None:
    (train, valid, _), _ = noisy_breast_cancer
    local = _fit_all(train, valid)
    checkpoint = tmp_path / "tmc.npz"

    def kill_when_a_round_is_done() -> None:
        deadline = time.time() + 120
        while not checkpoint.exists() and time.time() < deadline:
            time.sleep(0.05)
        _kill(cluster["worker"])  # type: ignore[arg-type]

    killer = threading.Thread(target=kill_when_a_round_is_done)
    killer.start()
    with backend("ray", address=str(cluster["address"])):
        remote = _fit_all(train, valid, checkpoint=checkpoint)
    killer.join()
    assert cluster["worker"].poll() is not None  # type: ignore[attr-defined]
    for key in local:
        np.testing.assert_array_equal(local[key], remote[key])


def test_an_address_is_only_for_ray() -> None:
    from assay.errors import InvalidParameterError

    with (
        pytest.raises(InvalidParameterError, match="only used by the ray backend"),
        backend("loky", address="127.0.0.1:6379"),
    ):
        pass


def test_the_command_line_refuses_an_address_without_ray(tmp_path: Path, capsys) -> None:
    from tests.cli_support import run

    out = tmp_path / "v.parquet"
    argv = ["value", "breast_cancer", "-m", "loo", "--backend", "loky", "--jobs", "2"]
    code, _, err = run([*argv, "--address", "127.0.0.1:6379", "-o", str(out)], capsys)
    assert code == 2 and "only used by the ray backend" in err and not out.exists()
