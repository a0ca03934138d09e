"""Human output of `status`: the health line, the actor tree, and each run with its process tree
(drawn like `ps --forest`, the numbers in aligned columns before the command, as `systemctl
status` lists a unit's processes). Takes the same JSON `status --json` prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from supervisor.cli.output import table

BRANCH, LAST, PIPE, SPACE = "├─ ", "└─ ", "│  ", "   "


def human_bytes(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    size = float(value)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit in ("B", "K") else f"{size:.1f}{unit}"
        size /= 1024
    return "-"  # not reached


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(value: Any, now: datetime) -> str:
    """'3.2s ago' for an ISO timestamp; the value itself otherwise; '-' when unset."""
    moment = _moment(value)
    if moment is None:
        return "-" if value is None else str(value)
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.1f}s ago"


def _owns(owns: Any) -> str:
    """Scalars as key=value and lists as key=[count]; nested objects (a run's JSON) and unset
    values are left to the runs section."""
    if not isinstance(owns, dict):
        return "-" if owns in (None, "") else str(owns)
    parts = []
    for key, value in owns.items():
        if isinstance(value, list):
            parts.append(f"{key}=[{len(value)}]")
        elif value is not None and not isinstance(value, dict):
            parts.append(f"{key}={value}")
    return " ".join(parts) or "-"


def _walk(nodes: Sequence[dict[str, Any]], prefix: str = "", root: bool = True
          ) -> Iterable[tuple[str, dict[str, Any]]]:
    """(tree-drawn label prefix, node) depth first; roots get no branch."""
    for index, node in enumerate(nodes):
        last = index == len(nodes) - 1
        here = "" if root else prefix + (LAST if last else BRANCH)
        yield here, node
        below = "" if root else prefix + (SPACE if last else PIPE)
        yield from _walk(node.get("children") or [], below, root=False)


def actor_table(actors: Sequence[dict[str, Any]], now: datetime) -> str:
    rows = [
        (
            f"{drawn}{node.get('name', '?')}",
            str(node.get("kind", "-")),
            str(node.get("state", "-")),
            str(node.get("restarts", 0)),
            age(node.get("last_tick"), now),
            _owns(node.get("owns")),
            str(node.get("last_error") or "-"),
        )
        for drawn, node in _walk(actors)
    ]
    headers = ("ACTOR", "KIND", "STATE", "RESTARTS", "LAST TICK", "OWNS", "LAST ERROR")
    return table(headers, rows)


def process_tree(processes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest a flat process list by ppid; a process whose parent is not listed is a root."""
    by_pid = {p.get("pid"): {**p, "children": []} for p in processes}
    roots: list[dict[str, Any]] = []
    for node in by_pid.values():
        parent = by_pid.get(node.get("ppid"))
        (parent["children"] if parent is not None and parent is not node else roots).append(node)
    return roots


def process_table(processes: Sequence[dict[str, Any]], indent: str = "  ") -> str:
    rows = []
    for drawn, node in _walk(process_tree(processes)):
        cpu = node.get("cpu_percent")
        rows.append((
            str(node.get("pid", "?")),
            f"{cpu:.1f}" if isinstance(cpu, int | float) else "-",
            human_bytes(node.get("rss")),
            str(node.get("status") or "-"),
            drawn + str(node.get("command") or "?"),
        ))
    text = table(("PID", "CPU%", "RSS", "STATUS", "COMMAND"), rows)
    return "\n".join(indent + line for line in text.splitlines())


def _run(run: dict[str, Any], now: datetime) -> list[str]:
    state = run.get("state") or {}
    message = f": {state['message']}" if state.get("message") else ""
    lines = [f"● {run.get('id')}  {run.get('deployment')}  {state.get('name', '?')}{message}"]
    started = run.get("start_time")
    facts = [f"started {age(started, now)}" if started else "not started yet"]
    if run.get("pid") is not None:
        facts.append(f"pid {run['pid']}")
    if run.get("commit"):
        facts.append(f"commit {str(run['commit'])[:12]}")
    if run.get("parameters"):
        facts.append(f"parameters {json.dumps(run['parameters'], sort_keys=True)}")
    lines.append("  " + " · ".join(facts))
    tree = run.get("tree") or []
    lines.append(process_table(tree) if tree else "  (no processes)")
    return lines


def render_status(
    data: dict[str, Any], where: str, now: datetime | None = None, width: int | None = None
) -> str:
    """The whole `status` text from {"health", "actors", "runs"}; lines cut to `width` if given."""
    now = now or datetime.now(UTC)
    health = data.get("health") or {}
    ok = health.get("status") == "ok"
    name = health.get("name", "?")
    lines = [
        f"{'●' if ok else '○'} supervisor {name!r} at {where}: "
        f"{'healthy' if ok else 'UNHEALTHY'} ({health.get('reason') or 'no reason given'})",
        "",
        actor_table(data.get("actors") or [], now),
        "",
    ]
    runs = data.get("runs") or []
    lines.append(f"Runs in flight: {len(runs)}")
    for run in runs:
        lines += ["", *_run(run, now)]
    if width:
        lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    return "\n".join(lines)
