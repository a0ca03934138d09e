"""Fuzzed settings files through the CLI, and fuzzed raw requests to a live ops API.

Settings: each file is a valid one mutated (a value swapped for an evil one: huge or negative
numbers, NaN, newlines and NULs in names, long strings, wrong types; a key dropped or added; a bad
cron/rrule/timezone/path) or broken as bytes (truncated, flipped, not UTF-8, garbage), sometimes
with an evil `SUPERVISOR_*` override. Each is given to one of `deployments --json`, `runs`,
`run NAME` and `start --once` (ops API off). Checked: no "Traceback" in the output, an exit code
in {0, 1, 2}, no death (by a signal, or a supervisor that stopped itself on a fatal error) and no
hang (20 s).

Ops: raw sockets to a live `python -m supervisor start` (token set, a run in flight): garbage
bytes, huge request lines and headers, many headers, bad Content-Length, chunked bodies, bad and
deeply nested JSON, wrong methods, odd paths, pipelined and half-sent requests. After each: the
daemon must live; every 20: /health must still answer. Then its stderr is searched for
tracebacks and the answers for 500s.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import socket
import subprocess
import uuid
from typing import Any

from chaos_common import (
    PY,
    Daemon,
    clean_env,
    free_port,
    keep_log,
    kill_marked,
    scene,
    toml_value,
    tracebacks,
)

EVIL_VALUES: list[Any] = [
    99999999999999999999, -99999999999999999999, 2**63, -1, 0, 1e308, -1e308, float("nan"),
    float("inf"), -0.0, "", "a\nb", "nul\u0000here", "x" * 5000, "ünïcødé/%", "../../etc",
    "/", ".", "/dev/null", True, [], ["a", 1], {"k": "v"}, "1e999",
]
VALID_SCHEDULES = {"FREQ=DAILY;UNTIL=20300101T000000Z", "FREQ=DAILY;COUNT=3"}
"""RFC 5545 allows these: a settings file with one must be accepted (exit 0)."""
SCHEDULES = [
    ("cron", "* * * * * *"), ("cron", "61 * * * *"), ("cron", "@reboot"), ("cron", ""),
    ("rrule", "FREQ=DAILY;UNTIL=20300101T000000Z"), ("rrule", "FREQ=SECONDLY;INTERVAL=0"),
    ("rrule", "FREQ=DAILY;COUNT=3"), ("rrule", "NOT A RULE"), ("rrule", "FREQ=YEARLY;BYSETPOS=1"),
    ("timezone", "Mars/Phobos"), ("timezone", ""), ("interval", 1e-9), ("anchor", "yesterday"),
]
ENV_OVERRIDES = [
    ("SUPERVISOR_LIMIT", "many"), ("SUPERVISOR_LIMIT", "99999999999999999999"),
    ("SUPERVISOR_DATABASE", ""), ("SUPERVISOR_OPS_PORT", "99999"), ("SUPERVISOR_LOG_DIR", ""),
    ("SUPERVISOR_POLL_INTERVAL", "nan"), ("SUPERVISOR_NAME", "a/b"), ("SUPERVISOR_OPS_PORT", "-1"),
]
COMMANDS = (("deployments", "--json"), ("runs", "--limit", "3"), ("run", "{name}"),
            ("start", "--once"))


def base_settings() -> dict[str, Any]:
    return {
        "supervisor": {"name": "fuzz", "limit": 2, "poll_interval": 0.2, "kill_grace": 1.0,
                       "database": "state.db", "log_dir": "logs"},
        "ops": {"enabled": False, "port": 0},
        "deployments": [
            {"name": "hello", "command": ["true"], "interval": 60},
            {"name": "once", "command": ["echo", "hi"], "tags": ["t"], "timeout": 5},
        ],
    }


def render(data: dict[str, Any]) -> str:
    lines = []
    for section in ("supervisor", "ops"):
        if section in data:
            lines.append(f"[{section}]")
            lines += [f"{k} = {_value(v)}" for k, v in data[section].items()]
    for deployment in data.get("deployments", []):
        lines.append("[[deployments]]")
        lines += [f"{k} = {_value(v)}" for k, v in deployment.items()]
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, str):
        return json.dumps(v)  # escapes newlines and NULs as TOML does
    return toml_value(v)


def mutate(rng: random.Random) -> tuple[bytes, dict[str, str], str]:
    """(file bytes, env overrides, what was done)."""
    data = base_settings()
    how = rng.choice(("value", "value", "value", "schedule", "drop", "add", "bytes", "garbage"))
    env: dict[str, str] = {}
    what = how
    if how == "value":
        section = rng.choice(("supervisor", "ops", "deployments"))
        target = rng.choice(data["deployments"]) if section == "deployments" else data[section]
        key = rng.choice([*target, "name", "kill_grace", "timeout"])
        target[key] = rng.choice(EVIL_VALUES)
        what = f"{section}.{key} = {_value(target[key])[:40]}"
    elif how == "schedule":
        key, value = rng.choice(SCHEDULES)
        data["deployments"][1][key] = value
        what = f"deployments.{key} = {value!r}"
        if value in VALID_SCHEDULES:
            what = "valid: " + what
    elif how == "drop":
        section = rng.choice(("supervisor", "deployments"))
        target = rng.choice(data["deployments"]) if section == "deployments" else data[section]
        key = rng.choice(list(target))
        del target[key]
        what = f"without {section}.{key}"
    elif how == "add":
        data["supervisor" if rng.random() < 0.5 else "ops"]["surprise"] = 1
        what = "an unknown key"
    text = render(data).encode()
    if how == "bytes":
        text = _break_bytes(text, rng)
        what = "broken bytes"
    elif how == "garbage":
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        what = "garbage"
    if rng.random() < 0.15:
        key, value = rng.choice(ENV_OVERRIDES)
        env[key] = value
        what += f" + {key}={value!r}"
    return text, env, what


def _break_bytes(text: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(("truncate", "flip", "insert", "latin1", "duplicate"))
    if kind == "truncate":
        return text[: rng.randrange(len(text))]
    if kind == "flip":
        data = bytearray(text)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == "insert":
        at = rng.randrange(len(text))
        extra = rng.choice((b"[[", b"]]", b"=", b'"', b"\xff\xfe", b"\n[ops]\n"))
        return text[:at] + extra + text[at:]
    if kind == "latin1":
        return text.replace(b'"hello"', b'"h\xe9llo"')
    lines = text.split(b"\n")
    line = rng.choice(lines)
    return text + b"\n" + line + b"\n"


def settings(count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    cases = [mutate(rng) for _ in range(count)]
    out: dict[str, Any] = {"files": count, "tracebacks": 0, "bad_exit_codes": 0, "deaths": 0,
                           "hangs": 0, "exit_codes": {}, "unexpected_errors": 0, "valid_refused": 0,
                           "examples": []}
    with scene("fuzz-settings") as sc:
        def one(index: int) -> tuple[int, str, list[str], int | None, str]:
            text, env, what = cases[index]
            folder = sc.folder / f"case{index}"
            folder.mkdir()
            config = folder / "supervisor.toml"
            config.write_bytes(text)
            argv = [a.replace("{name}", "hello") for a in COMMANDS[index % len(COMMANDS)]]
            env = clean_env(**env)
            env.setdefault("SUPERVISOR_OPS_ENABLED", "false")
            try:
                done = subprocess.run([PY, "-m", "supervisor", "--config", str(config), *argv],
                                      capture_output=True, text=True, errors="replace", env=env,
                                      cwd=folder, timeout=20, stdin=subprocess.DEVNULL)
                return index, what, argv, done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as exc:
                return index, what, argv, None, str(exc.stderr or "")

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(one, range(count)))
        for _, what, argv, code, text in results:
            key = "hang" if code is None else str(code)
            out["exit_codes"][key] = out["exit_codes"].get(key, 0) + 1
            bad = False
            if code is None:
                out["hangs"] += 1
                bad = True
            elif code < 0 or "supervisor stopped: " in text:  # killed, or a fatal error
                out["deaths"] += 1
                bad = True
            elif code not in (0, 1, 2):
                out["bad_exit_codes"] += 1
                bad = True
            if "Traceback (most recent call last)" in text:
                out["tracebacks"] += 1
                bad = True
            if what.startswith("valid: ") and "+" not in what and code != 0:
                out["valid_refused"] += 1
                bad = True
            if "unexpected error" in text:
                out["unexpected_errors"] += 1
                bad = True
            if bad and len(out["examples"]) < 8:
                last = text.strip().splitlines()[-1][:160] if text.strip() else ""
                out["examples"].append(f"{what} | {' '.join(argv)} -> {key}: {last}")
        out["left"] = kill_marked(sc.token)
    return out


def _requests(rng: random.Random, run_id: str, token: str) -> list[tuple[str, bytes]]:
    """(what, raw bytes) for one fuzzed request."""
    paths = ["/", "/health", "/actors", "/runs", f"/runs/{run_id}", f"/runs/{run_id}/cancel",
             "/metrics", "/shutdown", "/nudge", "/runs/not-a-uuid", "/runs/%00", "/%", "/%zz",
             "/runs/../../etc/passwd", "/" + "a" * 10000, "/ünï", "//runs//",
             "/runs?x=" + "y" * 9000,
             f"/runs/{uuid.uuid4()}/cancel"]
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "get", "",
               "G\x00T", "CONNECT", "TRACE"]
    auth = ["Bearer wrong", "Basic Zm9vOmJhcg==", "Bearer " + "t" * 70000, ""]
    bodies = [b"", b"{}", b'{"by": "fuzz"}', b"{", b"[1,2]", b'{"by": 5}', b"\xff\xfe",
              b"[" * 50000 + b"]" * 50000, b"[" * 30000 + b"]" * 30000,
              b'{"by": "' + b"x" * 60000 + b'"}', b"null",
              b'{"by": "\\ud800"}']
    kind = rng.choice(("request", "request", "request", "garbage", "huge-header", "many-headers",
                       "bad-length", "chunked", "pipelined", "half", "http09", "version",
                       "cancel", "cancel"))
    method, path = rng.choice(methods), rng.choice(paths)
    body = rng.choice(bodies)
    authorization = rng.choice(auth)
    if kind == "cancel":  # authorised: the body and id are what is fuzzed (never /shutdown)
        method, authorization = "POST", f"Bearer {token}"
        path = rng.choice((f"/runs/{run_id}/cancel", f"/runs/{uuid.uuid4()}/cancel",
                           "/runs/x/cancel"))
    headers = ["Host: x", f"Authorization: {authorization}", f"Content-Length: {len(body)}"]
    if kind == "garbage":
        return [(kind, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))]
    if kind == "huge-header":
        headers.append("X-Big: " + "h" * rng.choice((70000, 200000)))
    if kind == "many-headers":
        headers += [f"X-{i}: {i}" for i in range(rng.choice((150, 2000)))]
    if kind == "bad-length":
        headers[-1] = "Content-Length: " + rng.choice(("-1", "abc", "99999999999999999999",
                                                       "1, 2", " 5", "1e3"))
    if kind == "chunked":
        headers[-1] = "Transfer-Encoding: chunked"
        body = rng.choice((b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\nxx\r\n", b"ffffffff\r\n"))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    raw = head.encode("utf-8", "surrogateescape") + body
    if kind == "pipelined":
        one = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        return [(kind, one * rng.choice((5, 60)) + raw)]
    if kind == "half":
        return [(kind, raw[: rng.randrange(1, max(2, len(raw)))])]
    if kind == "http09":
        return [(kind, f"GET {path}\r\n".encode())]
    if kind == "version":
        return [(kind, f"GET /health HTTP/{rng.choice(('9.9', '0.1', 'x', ''))}\r\n\r\n".encode())]
    return [(f"{kind} {method} {path[:30]}", raw)]


def _send(port: int, raw: bytes, timeout: float = 3.0) -> str:
    """The status line answered, or what happened instead."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
            except OSError as exc:  # the server may close on us mid-send (too big): fine
                return f"send: {type(exc).__name__}"
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
    except TimeoutError:
        return "no answer"
    except OSError as exc:
        return f"error: {type(exc).__name__}"


def ops(count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"requests": 0, "answers": {}, "http_500": 0,
                           "health_failures": 0, "tracebacks": 0}
    token = uuid.uuid4().hex
    with scene("fuzz-ops") as sc:
        port = free_port()
        sc.write([{"name": "sleeper", "command": ["sleep", "600"], "kill_grace": 0.5}],
                 ops_port=port, limit=2)
        client = sc.client()
        run_id = str(client.create_run("sleeper").id)
        daemon = Daemon(sc, env=clean_env(SUPERVISOR_TOKEN=token))
        try:
            if not daemon.wait_started():
                raise RuntimeError(f"the supervisor did not start: {daemon.stderr()[-500:]}")
            for i in range(count):
                for what, raw in _requests(rng, run_id, token):  # noqa: B007 (after the loop)
                    answer = _send(port, raw)
                    status = answer.split(" ")[1] if answer.startswith("HTTP/") else answer
                    out["answers"][status] = out["answers"].get(status, 0) + 1
                    out["http_500"] += status == "500"
                    out["requests"] += 1
                if not daemon.alive() or "supervisor stopping: " in daemon.stderr():
                    out["died_after"] = what
                    break
                if i % 20 == 19 and not _send(port, b"GET /health HTTP/1.1\r\n\r\n").startswith(
                        ("HTTP/1.1 200", "HTTP/1.0 200", "HTTP/1.1 503", "HTTP/1.0 503")):
                    out["health_failures"] += 1
            daemon.finish(out)
        finally:
            if daemon.alive():
                daemon.kill9()
            client.close()
            out["left"] = kill_marked(sc.token)
            out["tracebacks"] = tracebacks(daemon.stderr())
            keep_log(daemon, "fuzz-ops", out)
    return out


__all__ = ["ops", "settings"]
