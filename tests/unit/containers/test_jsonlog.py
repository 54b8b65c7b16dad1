"""The json-file log driver: Docker's line format, rotation and reading back."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from dockyard.containers.jsonlog import (
    LogWriter,
    format_time,
    log_options,
    parse_size,
    parse_time,
    read_log,
)
from dockyard.errors import InvalidParameter


def test_format_matches_docker(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path)
    w.write("stdout", b"hello\nwor")
    w.write("stdout", b"ld\n")
    w.write("stderr", b"no newline")
    w.close()
    lines = [json.loads(line) for line in open(path, "rb")]
    assert [(e["log"], e["stream"]) for e in lines] == [
        ("hello\n", "stdout"),
        ("world\n", "stdout"),
        ("no newline", "stderr"),
    ]
    assert lines[0]["time"].endswith("Z") and "T" in lines[0]["time"]
    assert list(open(path, "rb"))[0].startswith(b'{"log":"hello\\n","stream":"stdout","time":"')


def test_long_lines_split_at_16k(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path)
    w.write("stdout", b"x" * 40000 + b"\n")
    w.close()
    sizes = [len(json.loads(line)["log"]) for line in open(path, "rb")]
    assert sizes == [16384, 16384, 40001 - 32768]


def test_times_round_trip():
    ns = 1_700_000_000_123_456_789
    assert parse_time(format_time(ns)) == ns
    assert format_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert format_time(1_700_000_000_100_000_000, fixed=True) == "2023-11-14T22:13:20.100000000Z"


def test_sizes_and_options():
    assert parse_size("10m") == 10 * 1024 * 1024
    assert parse_size("1k") == 1024 and parse_size("2kb") == 2048 and parse_size("512") == 512
    with pytest.raises(InvalidParameter):
        parse_size("lots")
    assert log_options({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}) == (
        1024 * 1024,
        3,
    )
    assert log_options(None) == (None, 1)
    with pytest.raises(InvalidParameter):
        log_options({"Type": "syslog"})
    with pytest.raises(InvalidParameter):
        log_options({"Config": {"max-file": "3"}})
    with pytest.raises(InvalidParameter):
        log_options({"Config": {"bogus": "1"}})


def test_rotation_keeps_max_file(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=300, max_file=3)
    for i in range(100):
        w.write("stdout", f"line {i:03d}\n".encode())
    w.close()
    assert sorted(os.listdir(tmp_path)) == ["log", "log.1", "log.2"]
    entries = [d for _, d in read_log(path)]
    assert entries[-1] == b"line 099\n"
    numbers = [int(e.split()[1]) for e in entries]
    assert numbers == list(range(numbers[0], 100))


def test_rotation_with_one_file_truncates(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=200, max_file=1)
    for i in range(50):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert os.listdir(tmp_path) == ["log"] and os.path.getsize(path) <= 200


def test_read_filters(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path)
    w.write("stdout", b"a\n")
    w.write("stderr", b"b\n")
    time.sleep(0.01)
    middle = time.time()
    time.sleep(0.01)
    w.write("stdout", b"c\n")
    w.close()
    assert [d for _, d in read_log(path)] == [b"a\n", b"b\n", b"c\n"]
    assert [d for _, d in read_log(path, stderr=False)] == [b"a\n", b"c\n"]
    assert [d for _, d in read_log(path, tail=1)] == [b"c\n"]
    assert list(read_log(path, tail=0)) == []
    assert [d for _, d in read_log(path, since=middle)] == [b"c\n"]
    assert [d for _, d in read_log(path, until=middle)] == [b"a\n", b"b\n"]
    stamped = [d for _, d in read_log(path, timestamps=True)]
    assert all(len(d.split(b" ", 1)[0]) == 30 for d in stamped)


def test_follow_across_rotation(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=200, max_file=2)
    w.write("stdout", b"first\n")
    done = threading.Event()
    got = []

    def follow():
        for _, d in read_log(path, follow=True, stopped=done.is_set, poll=0.01):
            got.append(d)

    t = threading.Thread(target=follow)
    t.start()
    for i in range(20):
        w.write("stdout", f"more {i:02d}\n".encode())
        time.sleep(0.01)
    time.sleep(0.05)
    done.set()
    t.join(5)
    w.close()
    assert got[0] == b"first\n" and got[-1] == b"more 19\n"
    assert len(got) == 21


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_errors_drop_and_count_lines(tmp_path):
    """A log that cannot be written (/dev/full answers every write with ENOSPC) never raises:
    lines are dropped and counted, and the error is kept for reports."""
    w = LogWriter("/dev/full")
    w.write("stdout", b"one\ntwo\n")
    w.write("stderr", b"three\n")
    w.flush()
    assert w.dropped == 3
    assert w.failing and "No space" in w.error
    w.close()


def test_a_log_that_cannot_be_opened_drops_lines(tmp_path):
    w = LogWriter(str(tmp_path / "missing-dir" / "c.log"))
    w.write("stdout", b"lost\n")
    assert w.dropped == 1 and w.failing
    os.mkdir(tmp_path / "missing-dir")
    w._retry_at = 0  # the retry interval is over
    w.write("stdout", b"kept\n")
    assert not w.failing
    w.close()
    entries = [json.loads(line) for line in open(tmp_path / "missing-dir" / "c.log")]
    assert [e["log"] for e in entries] == ["kept\n"]
