"""What scripts/chaos prints: the promises (figure, target, held or not) and the table."""

from __future__ import annotations

from typing import Any

# figure key -> (label, what it is measured over); each promise is "== 0"
PROMISES: dict[str, tuple[str, str]] = {
    "processes_escaped": ("processes escaped", "cancels"),
    "runs_stuck_non_terminal": ("runs stuck non-terminal after kill -9s", "kills"),
    "leftovers": ("processes left after kill -9s", "kills"),
    "runs_executed_twice": ("runs executed twice", "kills"),
    "reports_lost": ("state reports lost in the outage", "outage_s"),
    "health_flaps": ("/health flaps in the outage", "outage_s"),
    "slots_leaked": ("slots leaked", "fault_runs"),
    "runs_not_terminal": ("runs not terminal after faults", "fault_runs"),
    "tracebacks": ("tracebacks (fuzzed settings + ops requests)", "fuzzed"),
    "supervisor_deaths": ("supervisor deaths (fuzz, and any other scenario)", "fuzzed"),
    "bad_exit_codes": ("CLI exit codes outside {0, 1, 2} (fuzz)", "fuzzed"),
}


def promises(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    got = {}
    for key in PROMISES:
        if key in out:
            got[key] = {"value": out[key], "target": 0, "ok": out[key] == 0}
    return got


def _scale(out: dict[str, Any], over: str) -> str:
    if over == "cancels":
        return f"{out.get('cancels', 0)} cancels"
    if over == "kills":
        return f"{out.get('kills', 0)} kill -9s, {out.get('crash_runs', 0)} runs"
    if over == "outage_s":
        return f"{out.get('outage_s', 0):g} s outage, {out.get('outage_runs', 0)} runs"
    if over == "fault_runs":
        return f"{out.get('fault_runs', 0)} runs"
    return f"{out.get('fuzzed_settings', 0)} settings files, {out.get('fuzzed_requests', 0)} " \
        "requests"


def rows(out: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    body = []
    for key, promise in out["promises"].items():
        label, over = PROMISES[key]
        body.append((label, str(promise["value"]), "0", _scale(out, over),
                     "pass" if promise["ok"] else "MISS"))
    for name, error in out["errors"].items():
        body.append((name, error, "—", "—", "ERROR"))
    return body


def table(out: dict[str, Any]) -> str:
    head = ("figure", "measured", "target", "over", "result")
    body = rows(out)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", *notes(out)]
    m = out["machine"]
    lines.append(f"{out['mode']} mode, seed {out['seed']}, {out['elapsed_s']} s, {out['date']}; "
                 f"{m['cores']} cores, Python {m['python']}, Linux {m['kernel']}")
    return "\n".join(lines)


def notes(out: dict[str, Any]) -> list[str]:
    """One line per scenario on how it went beyond the promised figures."""
    d = out["detail"]
    lines = []
    if "cancels" in d:
        c = d["cancels"]
        by_kind = ", ".join(f"{k} {v}" for k, v in c["escaped_by_kind"].items()) or "none"
        lines.append(f"cancels: escaped by kind: {by_kind}; not CANCELLED {c['not_cancelled']}, "
                     f"not terminal {c['stuck']}; fork bomb: {c['fork_bomb']}")
    if "crash" in d:
        c = d["crash"]
        lines.append(f"crash: in flight at each kill {c['in_flight_at_kill']}; restart closed "
                     f"them out in {c['restart_resolved_s']} s; final states "
                     f"{c.get('final_states')}; {c['executed']} runs executed")
    if "outage" in d:
        o = d["outage"]
        reasons = "; ".join(f"{k} (x{v})" for k, v in o.get("health_reasons", {}).items())
        lines.append(f"outage: {o['lock']}; /health not 200 in "
                     f"{o.get('health_unhealthy_in_outage')} of "
                     f"{o.get('health_samples_in_outage')} samples during it, back to 200 "
                     f"{o.get('health_recovered_s')} s after it; said: {reasons or 'nothing'}; "
                     f"{o.get('executed')} runs executed, {o.get('not_completed')} not COMPLETED")
    if "faults" in d:
        f = d["faults"]
        lines.append(f"faults: injected {f.get('injected')}; reporter restarts "
                     f"{f.get('reporter_restarts')}; log disk {f.get('log_disk')} "
                     f"({f.get('log_disk_used_pct', '?')} % used at the end), truncation noted on "
                     f"{f.get('truncation_noted')} runs; final states {f.get('final_states')}; "
                     f"tracebacks other than the injected bugs' {f.get('tracebacks')}; supervisor "
                     f"error {f.get('supervisor_error')}")
    if "fuzz_settings" in d:
        f = d["fuzz_settings"]
        lines.append(f"fuzz settings: exit codes {f['exit_codes']}; 'unexpected error' "
                     f"{f['unexpected_errors']}; valid rrules refused {f['valid_refused']}")
        lines += [f"  e.g. {example}" for example in f["examples"][:4]]
    if "fuzz_ops" in d:
        f = d["fuzz_ops"]
        lines.append(f"fuzz ops: answers {f['answers']}; 500s {f['http_500']}; /health failed "
                     f"{f['health_failures']} times between requests")
    for kept in (log for v in d.values() for log in v.get("kept_logs", [])):
        lines.append(f"kept a daemon's stderr: {kept}")
    return lines
