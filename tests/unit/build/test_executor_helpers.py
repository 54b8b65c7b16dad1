"""The classic builder's conventions: Go-style quoting in history lines, EXPOSE port specs,
ENV updates, healthcheck comments, and the build-argument rules."""

from __future__ import annotations

import pytest

from dockyard.build.buildargs import BuildArgs
from dockyard.build.imageconfig import (
    container_config,
    ensure_path,
    go_duration,
    go_quote,
    go_strings,
    go_values,
    healthcheck_comment,
    parse_ports,
    update_env,
)
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("sh", '"sh"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
        ("", '""'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_go_slices() -> None:
    assert go_strings(["nginx", "-g", "daemon off;"]) == '["nginx" "-g" "daemon off;"]'
    assert go_strings(None) == "[]"
    assert go_values(["/bin/sh", "-c"]) == "[/bin/sh -c]"


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0s"), (5_000_000_000, "5s"), (90_000_000_000, "1m30s"), (500_000_000, "500ms"),
     (3_600_000_000_000, "1h0m0s"), (1_500_000_000, "1.5s")],
)  # fmt: skip
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_healthcheck_comment() -> None:
    hc = {"Test": ["CMD-SHELL", "curl -f http://x/"], "Interval": 5_000_000_000, "Retries": 3}
    assert healthcheck_comment(hc) == (
        'HEALTHCHECK &{["CMD-SHELL" "curl -f http://x/"] "5s" "0s" "0s" "0s" \'\\x03\'}'
    )


def test_parse_ports() -> None:
    assert parse_ports(["80", "443/UDP", "8000-8002/tcp", "53/sctp"]) == [
        "80/tcp", "443/udp", "8000/tcp", "8001/tcp", "8002/tcp", "53/sctp",
    ]  # fmt: skip
    for bad in ("abc", "80/xyz", "70000", "9-3"):
        with pytest.raises(InvalidParameter):
            parse_ports([bad])


def test_update_env_and_default_path() -> None:
    assert update_env(["A=1", "B=2"], "A", "3") == ["A=3", "B=2"]
    assert update_env(None, "A", "") == ["A="]
    assert ensure_path([]) == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert ensure_path(["PATH=/x"]) == ["PATH=/x"]


def test_container_config_has_every_field_and_no_stdin() -> None:
    cfg = container_config({"Cmd": ["sh"], "OpenStdin": True, "Custom": 1})
    assert list(cfg)[:3] == ["Hostname", "Domainname", "User"]
    assert cfg["Cmd"] == ["sh"] and cfg["OpenStdin"] is False and cfg["Custom"] == 1
    assert cfg["Entrypoint"] is None and cfg["WorkingDir"] == ""


def test_build_args_scope_and_overrides() -> None:
    args = BuildArgs({"V": "given", "HTTP_PROXY": "http://p", "UNUSED": "x", "NULL": None})
    args.add_meta("V", "meta")
    args.add_meta("M", "m")
    assert args.meta_values() == {"V": "given", "M": "m"}
    stage = args.for_stage()
    assert stage.in_effect([]) == {}  # meta args are not in a stage until declared
    stage.declare("M", None)  # takes the meta value
    stage.declare("D", "default")
    stage.declare("NULL", None)  # given as null and without default: no value
    assert stage.in_effect([]) == {"M": "m", "D": "default"}
    assert stage.in_effect(["D=env"]) == {"M": "m"}  # ENV wins
    assert stage.run_env([]) == {"M": "m", "D": "default", "HTTP_PROXY": "http://p"}
    assert stage.substitution_env(["D=env"])["D"] == "env"
    other = args.for_stage()
    assert other.in_effect([]) == {}  # a new stage starts empty
    assert args.unconsumed() == ["UNUSED"]


def test_onbuild_triggers_are_checked_as_docker_does() -> None:
    from dockyard.build.executor import _parse_trigger
    from dockyard.build.state import BuildError

    assert _parse_trigger("RUN echo hi").keyword == "RUN"
    assert _parse_trigger("copy a /b").args == ["a", "/b"]
    for text, message in [
        ("ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM busybox", "FROM isn't allowed as an ONBUILD trigger"),
        ("maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("NOPE x", "unknown instruction"),
        ("", "onbuild trigger should be a single expression"),
    ]:
        with pytest.raises(BuildError, match=message):
            _parse_trigger(text)
