#!/usr/bin/env python3
"""Micro-benchmark of the process layer (not a test): prints every figure in one run.

    scripts/bench_process.py [--quick]

1. launch overhead: start_process() vs a bare subprocess.Popen of the same command (call -> return)
2. SIGTERM -> reaped (result delivered) for cooperative children
3. how far past the grace a SIGTERM-ignoring tree is dead (result delivered)
4. many runs at once: start N, cancel all, every result in
Targets (issue 3): launch <= 2 ms more than Popen at the median; escalation <= 50 ms past grace p95.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supervisor.process import ExitResult, ProcessSpec, RunProcess, start_process

PROGRAMS = Path(__file__).resolve().parents[1] / "tests" / "programs"
COOPERATIVE_PY = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "print('ready', flush=True)\n"
    "time.sleep(3600)\n"
)


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    median = statistics.median(values)
    return f"median {median * 1e3:7.3f} ms   p95 {p95 * 1e3:7.3f} ms   (n={len(values)})"


class Timed:
    """A run whose first output line and result are time-stamped."""

    def __init__(self, argv: tuple[str, ...], ready: str | None = None, count: int = 1) -> None:
        self.ready = threading.Event()
        self.ended = threading.Event()
        self.ended_at = 0.0
        self._want, self._count, self._seen = ready, count, 0
        self.run: RunProcess = start_process(
            ProcessSpec(run_id=f"bench-{uuid.uuid4()}", argv=argv),
            on_output=self._line,
            on_exit=self._exit,
        )
        if ready is None:
            self.ready.set()

    def _line(self, line: str) -> None:
        if self._want is not None and line.startswith(self._want):
            self._seen += 1
            if self._seen >= self._count:
                self.ready.set()

    def _exit(self, result: ExitResult) -> None:
        self.ended_at = time.perf_counter()
        self.result = result
        self.ended.set()


def launch_overhead(n: int) -> None:
    argv = ["/bin/true"]
    layer, popen_same, popen_bare = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        run = start_process(ProcessSpec(run_id=f"bench-{uuid.uuid4()}", argv=tuple(argv)))
        layer.append(time.perf_counter() - t0)
        run.wait(10)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        popen_same.append(time.perf_counter() - t0)
        proc.communicate()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv)
        popen_bare.append(time.perf_counter() - t0)
        proc.wait()
    print("1. launch overhead, /bin/true, call -> return")
    print(f"   start_process()                               {ms(layer)}")
    print(f"   Popen(same flags: pipe, own session)          {ms(popen_same)}")
    print(f"   Popen(argv) bare                              {ms(popen_bare)}")
    extra = statistics.median(layer) - statistics.median(popen_bare)
    extra_same = statistics.median(layer) - statistics.median(popen_same)
    print(f"   => +{extra * 1e3:.3f} ms vs bare, +{extra_same * 1e3:.3f} ms vs same flags (median)")
    full = []
    for _ in range(n // 2):
        t0 = time.perf_counter()
        start_process(ProcessSpec(run_id=f"bench-{uuid.uuid4()}", argv=tuple(argv))).wait(10)
        full.append(time.perf_counter() - t0)
    print(f"   start -> exit noticed, reaped, verified        {ms(full)}")


def term_to_reaped(n: int) -> None:
    print("2. SIGTERM -> reaped (terminate() -> on_exit), cooperative child")
    for label, argv, ready, count in (
        ("sleep 3600", ("sleep", "3600"), None, n),
        ("python with a SIGTERM handler", (sys.executable, "-c", COOPERATIVE_PY), "ready", n // 2),
    ):
        times = []
        for _ in range(count):
            timed = Timed(argv, ready)
            timed.ready.wait(10)
            if ready is None:
                time.sleep(0.002)  # let sleep exec before we measure its TERM
            t0 = time.perf_counter()
            timed.run.terminate(grace=10)
            timed.ended.wait(10)
            assert timed.result.leftovers == 0 and not timed.result.escalated
            times.append(timed.ended_at - t0)
        print(f"   {label:<44}  {ms(times)}")


def escalation(n: int, grace: float = 0.1) -> None:
    print(
        f"3. SIGTERM-ignoring tree (3 processes), grace {grace * 1e3:.0f} ms: dead past the grace"
    )
    late = []
    for _ in range(n):
        timed = Timed((sys.executable, str(PROGRAMS / "ignores_term.py"), "2"), "child ", 2)
        timed.ready.wait(10)
        t0 = time.perf_counter()
        timed.run.terminate(grace=grace)
        timed.ended.wait(10)
        assert timed.result.escalated and timed.result.leftovers == 0
        late.append(timed.ended_at - t0 - grace)
    print(f"   past the grace                                {ms(late)}")


def many(n: int) -> None:
    t0 = time.perf_counter()
    runs = [Timed(("sh", "-c", "sleep 3600 & echo ready; wait"), "ready") for _ in range(n)]
    started = time.perf_counter() - t0
    for timed in runs:
        timed.ready.wait(30)
    t1 = time.perf_counter()
    for timed in runs:
        timed.run.terminate(grace=5)
    for timed in runs:
        timed.ended.wait(30)
    ended = time.perf_counter() - t1
    leftovers = sum(timed.result.leftovers for timed in runs)
    print(
        f"4. {n} runs (sh + sleep each): started in {started * 1e3:.0f} ms; all cancelled, reaped"
    )
    print(
        f"   and verified in {ended * 1e3:.0f} ms; leftovers {leftovers}; "
        f"threads {threading.active_count()}"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    launch_overhead(60 if quick else 300)
    term_to_reaped(10 if quick else 40)
    escalation(8 if quick else 30)
    many(50 if quick else 200)


if __name__ == "__main__":
    main()
