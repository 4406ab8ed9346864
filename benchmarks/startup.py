"""Start-up (issue 12.3): ``assay --help`` and ``assay COMMAND --help`` as whole processes.

Target: under 0.5 s each. Each command line runs ``--runs`` times in a fresh Python process
(after one warm-up run); the JSON records the median and minimum wall time, the CPU time
(user + sys of the child, from ``resource.getrusage``), the peak resident memory, and which of
torch / pandas / matplotlib / sklearn the process imported (none should be). On a busy shared
machine wall time includes waiting for a CPU: the CPU time is the figure that does not.

Usage: ``python benchmarks/startup.py [--runs 5]`` -> ``benchmarks/results/startup.json``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "startup.json"
SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "pandas", "matplotlib", "sklearn")
PROBE = (
    "import sys\nfrom assay.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
    "    pass\nprint(','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
)


def one_run(args: list[str]) -> tuple[float, float, float, list[str]]:
    """(wall s, cpu s, peak MiB, heavy modules imported) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = proc.stderr.splitlines()
    heavy = [m for m in (lines[-1] if lines else "").split(",") if m]
    return wall, cpu, after.ru_maxrss / 1024, heavy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(SRC))
    from assay.cli import app

    commands = [["--help"]] + [[c.name, "--help"] for c in app.registered_commands if c.name]
    rows = []
    for argv in commands:
        one_run(argv)  # warm-up (file cache)
        runs = [one_run(argv) for _ in range(args.runs)]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        rows.append(
            {
                "command": "assay " + " ".join(argv),
                "wall_s_median": round(statistics.median(walls), 3),
                "wall_s_min": round(min(walls), 3),
                "cpu_s_median": round(statistics.median(cpus), 3),
                "peak_rss_mb": round(max(r[2] for r in runs), 1),
                "heavy_imports": sorted({m for r in runs for m in r[3]}),
            }
        )
        print(rows[-1])
    load = os.getloadavg()[0]
    payload = {
        "target_s": 0.5,
        "runs": args.runs,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_1min": round(load, 2),
        "note": "wall includes waiting for a CPU on a busy machine; cpu_s does not",
        "commands": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
