"""The programs chaos runs as a run's command: `chaos_adversary.py KIND [ARGS…]`.

Each adversarial kind prints `ready` once its whole tree is up, then waits to be ended:

- `grandchild`: a child that execs a grandchild (`sleep`), both waiting;
- `ignorer`: ignores SIGTERM, with 3 children that ignore it too;
- `daemon`: double-forks a `setsid()` daemon that ignores SIGTERM and closes its stdio;
- `forkbomb CAP`: every process forks without end; held at CAP processes by RLIMIT_NPROC.
  Root is exempt from RLIMIT_NPROC, so as root the bomb first drops to uid/gid 65534 (nobody);
  if it cannot, it falls back to a bounded loop (each process keeps 2 children, depth 5) and
  says so on its first line (`bomb: …`);
- `stopper`: ignores SIGTERM, forks a child; both stop themselves with SIGSTOP;
- `scrubbed`: a double-forked `setsid()` daemon that execs `sleep` with an empty environment, so
  it carries no cookie, only the marker in its argv (not in the promised set: see README);
- `proxy FIFO`: asks an accomplice outside its tree (the chaos script, through FIFO) to start a
  process: an escape no supervisor can see, used to show the escape counter counts.

Non-adversarial kinds for load: `work LEDGER SECONDS` appends the run id to LEDGER (to catch a run
executed twice), keeps a grandchild, sleeps and exits 0; `chatty LINES` prints LINES lines.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time


def _ready() -> None:
    os.write(1, b"ready\n")


def _forever() -> None:
    while True:
        signal.pause()


def grandchild() -> None:
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "3600"])
    # the child above is a grandchild of nothing yet: make one more level
    if os.fork() == 0:
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "3601"])
        _forever()
    _ready()
    _forever()


def ignorer() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(3):
        if os.fork() == 0:
            _forever()
    _ready()
    _forever()


def daemon() -> None:
    up_r, up_w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.write(up_w, b"x")
            _forever()
        os._exit(0)
    os.read(up_r, 1)
    os.wait()
    _ready()
    _forever()


def forkbomb(cap: int) -> None:
    how = "bounded loop (2 children each, depth 5): could not drop root for RLIMIT_NPROC"
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        how = f"RLIMIT_NPROC={cap} as uid {os.getuid()}"
    except OSError as exc:
        how += f" ({exc})"
    os.write(1, f"bomb: {how}\n".encode())
    if how.startswith("RLIMIT"):
        _bomb()
    _bounded(0)


def _bomb() -> None:
    """Fork for ever; the first refusal means the cap is reached, so the tree is up."""
    said = False
    while True:
        try:
            os.fork()  # parent and child both go round again
        except OSError:
            if not said:
                said = True
                _ready()
            time.sleep(0.01)


def _bounded(depth: int) -> None:
    kids: set[int] = set()
    while True:
        while depth < 5 and len(kids) < 2:
            pid = os.fork()
            if pid == 0:
                _bounded(depth + 1)
            kids.add(pid)
        if depth == 0:
            _ready()
            depth = -10  # say it once; keep respawning
        pid, _ = os.wait()
        kids.discard(pid)


def stopper() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        os.kill(os.getpid(), signal.SIGSTOP)
        _forever()
    os.waitpid(child, os.WUNTRACED)  # the child is stopped
    _ready()
    os.kill(os.getpid(), signal.SIGSTOP)
    _forever()


def scrubbed(marker: str) -> None:
    """A double-forked setsid() daemon that execs a shell loop with an empty environment."""
    up_r, up_w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(up_w, b"x")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execve("/bin/sh", ["sh", "-c", "while :; do sleep 1; done", marker], {})
        os._exit(0)
    os.read(up_r, 1)
    os.wait()
    _ready()
    _forever()


def proxy(fifo: str) -> None:
    with open(fifo, "w") as handle:
        handle.write(os.environ.get("SUPERVISOR_RUN_ID", "?") + "\n")
    _ready()
    _forever()


def work(ledger: str, seconds: float) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (os.environ["SUPERVISOR_RUN_ID"] + "\n").encode())  # one write: atomic append
    os.close(fd)
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", str(seconds + 30)])
    time.sleep(seconds)
    print("done", flush=True)


def chatty(lines: int) -> None:
    line = b"chaos chatty line " + b"x" * 80 + b"\n"
    for _ in range(lines):
        os.write(1, line)


def main() -> None:
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "forkbomb":
        forkbomb(int(args[0]))
    elif kind == "proxy":
        proxy(args[0])
    elif kind == "scrubbed":
        scrubbed(args[-1])
    elif kind == "work":
        work(args[0], float(args[1]))
    elif kind == "chatty":
        chatty(int(args[0]))
    else:
        {"grandchild": grandchild, "ignorer": ignorer, "daemon": daemon, "stopper": stopper}[
            kind
        ]()


if __name__ == "__main__":
    main()
