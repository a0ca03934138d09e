"""What scripts/bench prints: the table with targets and verdicts, the README section, the notes
on method that go into the JSON, and the final check for stray processes of the bench session."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

METHODS = {
    "launch_overhead_ms": "runs scheduled ahead (normal prefetch poll, timers); per run: the "
    "child's own CLOCK_REALTIME stamp minus its scheduled time, minus the baseline's p50 of "
    "Popen call -> the same child's stamp",
    "start_skew_ms": "|child's own stamp - scheduled time| for the same runs (the stamp child "
    "has negligible start-up: see baseline)",
    "start_skew_recorded_ms": "|start_time recorded in the control plane - scheduled time|",
    "pickup_ms": "in-process API path: create_run on a separate connection + Supervisor.nudge() "
    "returned -> the child's CLOCK_MONOTONIC stamp; start-up not subtracted (negligible)",
    "pickup_cli_ms": "CLI path: `python -m supervisor run NAME` (ops port set, so it nudges) "
    "exited -> child's stamp; negative = already executing when the CLI returned",
    "pickup_cli_from_launch_ms": "CLI path from launching the CLI process (its Python start-up "
    "included) to the child's stamp",
    "cancel_latency_ms": "RUNNING landed and child ready; request_cancel on a separate "
    "connection + nudge (the CLI's cancel minus HTTP) -> the process layer reports the whole tree "
    "(cooperative parent + child) reaped and verified",
    "escalation_past_grace_ms": "tree of 3 ignoring SIGTERM, kill_grace 0.2 s: cancel request "
    "-> tree reaped, minus the grace",
    "escaped_processes": "each adversarial tree cancelled once it is fully up, and a run "
    "cancelled between its claim and its start (request_cancel from the launcher seam: the run "
    "is PENDING, so it becomes CANCELLED at once and the RUNNING report is ABORTed); live "
    "processes still carrying its SUPERVISOR_RUN_ID 5 s past the grace, plus any after the "
    "supervisor stopped",
    "scale": "runs of a sleeping C child all due at one instant; start_all = last child stamp - "
    "due; CPU = this process's user+sys over the window / wall; RSS/threads of this process "
    "(bench + embedded supervisor); cancel_all = every run's request_cancel written in one "
    "transaction (a mass cancel) + one nudge -> last tree reaped",
    "burst_drain_ratio": "runs of `true` all due at one instant, limit 50: due -> last terminal "
    "state landed in the control plane, divided by a 50-thread pool of Popen(['true']).wait()",
    "burst_budget": "on C cores a drain takes at least (children's CPU + supervisor's CPU) / C, so "
    "1.5 x the Popen pool's wall W leaves the supervisor (1.5 W C - the pool children's CPU, from "
    "RUSAGE_CHILDREN) / N a run; beside it, alone: the process layer (start_process of `true` "
    "from 50 threads, subreaper on, each waiting for its reaped and verified exit) and a run's "
    "three state writes (claim, RUNNING, terminal) on a fresh SQLite plane in batches of 50, and "
    "the system's CPU for the same burst when each run's process is the actors' unit-test fake, "
    "ending at once",
    "cost_per_run": "bursts of N runs of `true` (limit 50) as in burst_drain_ratio: drain wall "
    "time / N and this process's CPU from due to the last terminal state / N, beside the Popen "
    "pool's wall time / N",
}


def _lat(out: dict[str, Any], key: str) -> str:
    v = out[key]
    return f"p50 {v['p50']:.2f} / p95 {v['p95']:.2f} ms (n={v['n']})"


def _verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def rows(out: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, verdict) for every figure present in `out`."""
    got: list[tuple[str, str, str, str]] = []

    def latency(key: str, label: str, stat: str, limit: float | None) -> None:
        if key in out:
            target = f"{stat} ≤ {limit:g} ms" if limit is not None else "—"
            ok = "—" if limit is None else _verdict(out[key][stat] <= limit)
            got.append((label, _lat(out, key), target, ok))

    latency("launch_overhead_ms", "launch overhead over bare Popen", "p50", 2)
    latency("start_skew_ms", "start skew (child executing)", "p95", 20)
    latency("start_skew_recorded_ms", "start skew (recorded start_time)", "p95", None)
    latency("pickup_ms", "run-now pickup, API + nudge", "p95", 100)
    latency("pickup_cli_ms", "run-now pickup, CLI exited → executing", "p95", 100)
    latency("pickup_cli_from_launch_ms", "run-now, CLI launched → executing", "p95", None)
    latency("cancel_latency_ms", "cancel → whole tree reaped", "p95", 100)
    latency("escalation_past_grace_ms", "escalation past grace", "p95", 50)
    if "escaped_processes" in out:
        detail = ", ".join(f"{k} {v}" for k, v in out["escaped_detail"].items())
        got.append(("escaped processes", f"{out['escaped_processes']} ({detail})", "0",
                    _verdict(out["escaped_processes"] == 0)))
    if "scale" in out:
        s = out["scale"]
        n = s["runs"]
        got += [
            (f"{n} sleeping runs: all executing", f"{s['start_all_s']:.2f} s after due "
             f"(RUNNING recorded {s['running_reported_s']:.2f} s; bare Popen of {n} kept "
             f"sleepers, 2 threads: {s.get('popen_start_all_s', float('nan')):.2f} s)", "≤ 2 s",
             _verdict(s["start_all_s"] <= 2)),
            (f"{n} sleeping runs: RSS", f"{s['rss_mib']:.0f} MiB (+{s['rss_delta_mib']:.0f})",
             "≤ 300 MiB", _verdict(s["rss_mib"] <= 300)),
            (f"{n} sleeping runs: idle CPU", f"{s['cpu_percent']:.1f} % of a core", "≤ 2 %",
             _verdict(s["cpu_percent"] <= 2)),
            (f"{n} sleeping runs: threads", f"{s['threads']} ({s.get('pool_threads', '?')} "
             "serving run actors)", "≤ 64", _verdict(s["threads"] <= 64)),
            (f"{n} sleeping runs: cancel all", f"{s['cancel_all_s']:.2f} s reaped, "
             f"{s['cancel_reported_s']:.2f} s recorded (requests alone "
             f"{s.get('cancel_requested_s', 0):.2f} s); {s['left']} left", "≤ 5 s, 0 left",
             _verdict(s["left"] == 0 and s["cancel_all_s"] <= 5)),
        ]
    if "burst_drain_ratio" in out:
        b = out["burst"]
        got.append(("burst drain ratio", f"{b['ratio']:.2f} ({b['runs']} runs of true, limit "
                    f"{b['limit']}: {b['drain_s']:.2f} s vs Popen pool {b['baseline_s']:.2f} s)",
                    "≤ 1.5", _verdict(b["ratio"] <= 1.5)))
        if "burst_budget" in out:
            g = out["burst_budget"]
            spent = 1000 * b["cpu_s"] / b["runs"]
            got.append(("burst budget: supervisor CPU a run", f"{spent:.2f} ms spent; ≤ 1.5 "
                        f"leaves {g['allowed_cpu_ms']:.2f} ms on {g['cores']} cores (children "
                        f"{g['children_cpu_ms']:.2f} ms each); alone: process layer "
                        f"{g['process_layer_cpu_ms']:.2f} ms, three state writes "
                        f"{g['state_writes_cpu_ms']:.2f} ms, the system without processes "
                        f"{g['without_processes_cpu_ms']:.2f} ms", "—", "—"))
    if "cost_per_run" in out:
        for n, c in out["cost_per_run"].items():
            got.append((f"cost per run, N = {int(n):,}", f"{c['wall_ms']:.2f} ms wall, "
                        f"{c['cpu_ms']:.2f} ms CPU (Popen pool {c['popen_ms']:.2f} ms; "
                        f"ratio {c['ratio']:.2f})", "flat in N", "—"))
    for figure, error in out.get("errors", {}).items():
        got.append((figure, error, "—", "ERROR"))
    base = out["baseline"]
    got.append(("baseline: Popen → child executing", _lat(base, "popen_to_exec_ms"),
                base["stamp_child"], "—"))
    return got


def table(out: dict[str, Any]) -> str:
    body = rows(out)
    widths = [max(len(r[i]) for r in [("figure", "measured", "target", "result"), *body])
              for i in range(4)]
    lines = []
    for r in [("figure", "measured", "target", "result"), *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = out["machine"]
    lines.append(f"\n{out['mode']} mode, {out['elapsed_s']} s, {out['date']}; {m['cores']} cores "
                 f"({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, Linux {m['kernel']}"
                 f"; stray processes {out['stray_processes']}")
    return "\n".join(lines)


def readme_section(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = [
        f"Measured {out['date']} by `scripts/bench` ({out['mode']} mode, {out['elapsed_s']} s) "
        f"on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"Linux {m['kernel']}.",
        "",
        "| figure | measured | target | result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(c.replace('|', '/') for c in r)} |" for r in rows(out)]
    lines += ["", "How each figure is taken (also in `scripts/bench --json`, key `methods`):", ""]
    lines += [f"- `{k}`: {v}" for k, v in out["methods"].items()]
    return "\n".join(lines)


def write_readme(path: Path, out: dict[str, Any]) -> None:
    text = path.read_text()
    pattern = re.compile(r"(<!-- bench:start -->\n).*?(\n<!-- bench:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no <!-- bench:start --> … <!-- bench:end --> markers")
    section = readme_section(out)
    path.write_text(pattern.sub(lambda m: m.group(1) + section + m.group(2), text))


def stray_processes(var: str, kill: Callable[[int, int], None] = os.kill) -> int:
    """Processes still carrying this bench session's cookie (killed, and counted)."""
    cookie = f"{var}={os.environ[var]}".encode()
    me, stray = os.getpid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if cookie not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue
        except OSError:
            continue
        stray += 1
        with contextlib.suppress(OSError):
            kill(int(entry.name), 9)
    return stray
