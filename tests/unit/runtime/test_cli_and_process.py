"""Pieces of the CLI and the process set-up that need no root."""

from __future__ import annotations

import signal

import pytest

from dockyard.runtime.cli import CliError, main, parse_signal
from dockyard.runtime.process import env_dict, find_executable


@pytest.mark.parametrize(
    "text,number",
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("kill", 9),
        ("9", 9),
        ("TERM", 15),
        ("SIGUSR1", int(signal.SIGUSR1)),
    ],
)
def test_parse_signal(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("bad", ["FOO", "0", "999", "SIG"])
def test_parse_signal_unknown(bad):
    with pytest.raises(CliError, match="unknown signal"):
        parse_signal(bad)


def test_env_dict():
    assert env_dict(["A=1", "B=x=y", "C"]) == {"A": "1", "B": "x=y", "C": ""}


def test_find_executable(tmp_path):
    exe = tmp_path / "prog"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert find_executable("prog", {"PATH": f"/nonexistent:{tmp_path}"}) == str(exe)
    assert find_executable(str(exe), {}) == str(exe)
    with pytest.raises(OSError, match="executable file not found in \\$PATH"):
        find_executable("nope", {"PATH": str(tmp_path)})


def test_state_of_unknown_container(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "state", "nope"]) == 1
    err = capsys.readouterr().err
    assert "level=error" in err and "container nope does not exist" in err


def test_list_empty(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == "null"


def test_command_word_after_global_options():
    from dockyard.runtime.cli import _command_in

    assert _command_in(["--root", "/x", "--log-format", "json", "run", "-d", "id"]) == "run"
    assert _command_in(["--debug", "ps"]) == "ps"
    assert _command_in(["--root", "/x"]) is None


def test_kill_with_unknown_signal_is_runc_style(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "kill", "nope", "FOO"]) == 1
    assert 'unknown signal \\"FOO\\"' in capsys.readouterr().err
