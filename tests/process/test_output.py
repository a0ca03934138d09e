"""The output reader on a real pipe and the real pump thread: lines, bounds, bad bytes, holders."""

from __future__ import annotations

import os
import threading

import pytest

from supervisor.process.loop import EpollLoop
from supervisor.process.output import MAX_LINE, LogFile, OutputReader


@pytest.fixture(scope="module")
def pump():
    return EpollLoop("test-output-pump")


class Pipe:
    def __init__(self, pump: EpollLoop, log_path=None) -> None:
        read_fd, self.write_fd = os.pipe()
        self.lines: list[str] = []
        self.closed = threading.Event()
        log_file = LogFile(log_path, "run-1") if log_path else None
        self.reader = OutputReader(
            os.fdopen(read_fd, "rb", buffering=0),
            pump,
            log_file,
            self.lines.append,
            self.closed.set,
        )
        self.reader.start()

    def write(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def close_writer(self) -> list[str]:
        os.close(self.write_fd)
        assert self.closed.wait(10)
        return self.lines


def test_lines_split_across_reads_and_the_last_unterminated_one(pump, tmp_path):
    pipe = Pipe(pump, tmp_path / "run.log")
    pipe.write(b"one\ntw")
    pipe.write(b"o\r\nthree")
    assert pipe.close_writer() == ["one", "two", "three"]
    assert (tmp_path / "run.log").read_text() == "one\ntwo\nthree\n"


def test_invalid_utf8_becomes_replacement_characters(pump):
    pipe = Pipe(pump)
    pipe.write("é".encode()[:1])  # half a character, completed by the next write
    pipe.write("é".encode()[1:] + b" \xff\xfe ok\n\xc3")
    assert pipe.close_writer() == ["é \ufffd\ufffd ok", "\ufffd"]


def test_a_long_line_is_handed_on_in_bounded_pieces(pump):
    pipe = Pipe(pump)
    done = threading.Thread(target=lambda: [pipe.write(b"z" * 65536) for _ in range(5)])
    done.start()
    done.join()
    lines = pipe.close_writer()
    assert all(len(line) <= MAX_LINE for line in lines)
    assert "".join(lines) == "z" * 5 * 65536


def test_force_close_returns_although_a_writer_keeps_the_pipe_open(pump):
    pipe = Pipe(pump)
    pipe.write(b"held open\n")
    pump.call_soon(pipe.reader.force_close)
    assert pipe.closed.wait(10)
    assert pipe.lines == ["held open"]
    os.close(pipe.write_fd)


def test_a_failing_callback_does_not_stop_the_pump(pump):
    read_fd, write_fd = os.pipe()
    closed = threading.Event()

    def explode(line: str) -> None:
        raise ValueError(line)

    reader = OutputReader(os.fdopen(read_fd, "rb", buffering=0), pump, None, explode, closed.set)
    reader.start()
    os.write(write_fd, b"a\nb\n")
    os.close(write_fd)
    assert closed.wait(10)
    assert Pipe(pump).close_writer() == []  # the pump still serves others


def test_a_log_that_cannot_be_opened_is_cut_at_0_and_the_output_still_drains(pump, tmp_path):
    missing = tmp_path / "gone" / "run.log"
    pipe = Pipe(pump, missing)
    pipe.write(b"still read\n")
    assert pipe.close_writer() == ["still read"]
    assert pipe.reader.truncated == (
        f"output truncated at 0 bytes: No such file or directory ({missing})"
    )


def test_logs_past_the_bound_lose_their_descriptor_and_append_when_they_write_again(
    tmp_path, monkeypatch
):
    from supervisor.process import descriptors

    monkeypatch.setattr(descriptors, "logs", descriptors.Descriptors(limit=2))
    logs = [LogFile(tmp_path / f"{i}.log", f"run-{i}") for i in range(3)]
    for i, log_file in enumerate(logs):
        log_file.write(f"first {i}\n".encode())
    held = [log_file._fd is not None for log_file in logs]
    assert held == [False, True, True]  # the least recently written lost its descriptor
    logs[0].write(b"second 0\n")
    assert [log_file._fd is not None for log_file in logs] == [True, False, True]
    for log_file in logs:
        log_file.close()
    assert (tmp_path / "0.log").read_text() == "first 0\nsecond 0\n"
    assert logs[0].written == len("first 0\nsecond 0\n")
    assert [log_file._fd for log_file in logs] == [None, None, None]
