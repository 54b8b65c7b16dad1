"""docker run flags -> Config/HostConfig, as the docker CLI builds them."""

from __future__ import annotations

import argparse

import pytest

from dockyard.cli import runopts


def parse(*argv: str):
    p = argparse.ArgumentParser(add_help=False)
    runopts.add_run_flags(p, run=True)
    return runopts.build_config(p.parse_args(list(argv)))


def test_ports():
    exposed, bindings = runopts.parse_ports(
        ["5000:5000", "127.0.0.1:8080:80", "53/udp", "9000-9001:9000-9001"]
    )
    assert bindings["5000/tcp"] == [{"HostIp": "", "HostPort": "5000"}]
    assert bindings["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    assert bindings["53/udp"] == [{"HostIp": "", "HostPort": ""}]
    assert bindings["9001/tcp"] == [{"HostIp": "", "HostPort": "9001"}]
    assert set(exposed) == {"5000/tcp", "80/tcp", "53/udp", "9000/tcp", "9001/tcp"}
    for bad in ("abc", "1:2:3:4", "70000", "80/xyz", "1-3:1-2"):
        with pytest.raises(runopts.OptionError):
            runopts.parse_ports([bad])


def test_build_config():
    config, host, net = parse(
        "-d",
        "--name",
        "web",
        "-e",
        "A=1",
        "-l",
        "k=v",
        "-p",
        "8080:80",
        "-v",
        "data:/d",
        "-v",
        "/anon",
        "--tmpfs",
        "/t:size=1m",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--restart",
        "on-failure:3",
        "--cap-add",
        "NET_ADMIN",
        "--read-only",
        "--init",
        "--health-cmd",
        "true",
        "--health-interval",
        "5s",
        "--network",
        "mynet",
        "--network-alias",
        "db",
        "-w",
        "/w",
        "-u",
        "1000",
        "busybox",
        "sh",
        "-c",
        "echo hi",
    )
    assert config["Image"] == "busybox" and config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Env"] == ["A=1"] and config["Labels"] == {"k": "v"}
    assert config["Volumes"] == {"/anon": {}} and config["WorkingDir"] == "/w"
    assert config["AttachStdout"] is False  # detached
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert host["Binds"] == ["data:/d"] and host["Tmpfs"] == {"/t": "size=1m"}
    assert host["Memory"] == 64 * 1024 * 1024 and host["NanoCpus"] == 1_500_000_000
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["CapAdd"] == ["NET_ADMIN"] and host["ReadonlyRootfs"] and host["Init"]
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert host["NetworkMode"] == "mynet"
    assert net == {"EndpointsConfig": {"mynet": {"Aliases": ["db"]}}}


def test_defaults_and_interactive():
    config, host, net = parse("-it", "busybox")
    assert config["Cmd"] is None and config["Tty"] and config["OpenStdin"]
    assert config["AttachStdin"] and config["StdinOnce"]
    assert host["NetworkMode"] == "default" and net == {}
    assert host["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}


def test_entrypoint_and_mount():
    config, host, _ = parse(
        "--entrypoint", "", "--mount", "type=bind,source=/tmp,target=/h,readonly", "busybox"
    )
    assert config["Entrypoint"] == [""]
    assert host["Mounts"] == [{"Type": "bind", "Source": "/tmp", "Target": "/h", "ReadOnly": True}]
    with pytest.raises(runopts.OptionError):
        runopts.parse_mount("type=bind,source=/tmp")
    with pytest.raises(runopts.OptionError):
        parse("--restart", "sometimes", "busybox")
