"""The machine's own limits, measured in the same bench run: bare `subprocess.Popen`.

- `popen_to_exec`: from the Popen call to the child's own stamp (the same stamp command the runs
  execute), so the child's start-up is in the baseline and cancels out of `launch_overhead_ms`;
- `popen_pool_drain`: N runs of `true` through a pool of `width` threads, each Popen + wait
  (and the children's own CPU, for the burst's budget);
- `popen_sleepers`: N sleeping children started by `width` threads, each kept as the supervisor
  keeps a run (its Popen, stdout pipe and a pidfd): the floor under "N sleeping runs: all
  executing", since every spawn copies the growing descriptor table.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from bench_stamp import parse_stamp


def popen_to_exec(argv: tuple[str, ...], n: int) -> list[float]:
    """ms from calling Popen to the child executing (its stamp), n times."""
    samples = []
    for _ in range(n):
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=30)
        stamp = parse_stamp(out.decode().splitlines()[0])
        assert stamp is not None, out
        samples.append((stamp[0] - t0) * 1e3)
    return samples


def popen_pool_drain(count: int, width: int) -> tuple[float, float]:
    """(seconds, the children's own CPU seconds) for a pool of `width` threads to run `true`
    `count` times."""

    def one(_: int) -> int:
        return subprocess.Popen(["true"], stdin=subprocess.DEVNULL).wait()

    children0, t0 = _children_cpu(), time.monotonic()
    with ThreadPoolExecutor(max_workers=width) as pool:
        codes = list(pool.map(one, range(count)))
    elapsed = time.monotonic() - t0
    assert not any(codes)
    return elapsed, _children_cpu() - children0


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def popen_sleepers_apart(argv: tuple[str, ...], count: int) -> float:
    """`popen_sleepers` in a process of its own: its 5,000 children and their descriptors leave
    nothing in the bench's process (in it, the next burst's CPU intermittently tripled)."""
    code = ("import sys, json; from bench_baseline import popen_sleepers; "
            "print(popen_sleepers(tuple(json.loads(sys.argv[1])), int(sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(argv), str(count)],
                          cwd=Path(__file__).parent, capture_output=True, text=True, check=True,
                          timeout=300)
    return float(done.stdout.split()[-1])


def popen_sleepers(argv: tuple[str, ...], count: int, width: int = 2) -> float:
    """Seconds from the first Popen until the last of `count` sleeping children is executing
    (its stamp); all are then killed and reaped."""
    kept: list[tuple[subprocess.Popen[bytes], int]] = []

    def one(_: int) -> None:
        proc = subprocess.Popen([*argv, "sleep"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, start_new_session=True)
        kept.append((proc, os.pidfd_open(proc.pid)))

    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=width) as pool:
            list(pool.map(one, range(count)))
        stamps = []
        for proc, _ in kept:
            assert proc.stdout is not None
            stamp = parse_stamp(proc.stdout.readline().decode())
            assert stamp is not None
            stamps.append(stamp[0])
    finally:
        for proc, fd in kept:
            proc.kill()
            proc.wait()
            os.close(fd)
            if proc.stdout is not None:
                proc.stdout.close()
    return max(stamps) - t0


def machine() -> dict[str, Any]:
    memory = psutil.virtual_memory().total
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), "")
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
