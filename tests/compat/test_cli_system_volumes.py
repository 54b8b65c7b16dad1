"""The real docker CLI against our daemon: version, info, volumes, events."""

from __future__ import annotations

import json
import time

import pytest

from daemon_fixture import module_daemon  # noqa: F401  (fixture)


@pytest.fixture
def d(module_daemon):  # noqa: F811
    return module_daemon


def test_docker_version(d):
    r = d.docker("version")
    assert r.returncode == 0, r.stderr
    assert "Server: dockyard" in r.stdout
    assert "API version:      1.47 (minimum version 1.24)" in r.stdout
    r = d.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}")
    assert r.stdout.strip() == "1.47 1.24"


def test_docker_info(d):
    r = d.docker("info")
    assert r.returncode == 0, r.stderr
    assert "Storage Driver: overlay2" in r.stdout
    assert f"Docker Root Dir: {d.data_root}" in r.stdout
    assert "Cgroup Driver: cgroupfs" in r.stdout
    r = d.docker("info", "--format", "{{json .}}")
    info = json.loads(r.stdout)
    assert info["NCPU"] >= 1 and info["OSType"] == "linux"


def test_docker_volume_lifecycle(d):
    r = d.docker("volume", "create", "--label", "app=web", "cvol1")
    assert (r.returncode, r.stdout) == (0, "cvol1\n"), r.stderr
    r = d.docker("volume", "ls")
    assert r.stdout.splitlines()[0] == "DRIVER    VOLUME NAME"
    assert "local     cvol1" in r.stdout.splitlines()
    r = d.docker("volume", "ls", "-q", "--filter", "label=app=web")
    assert r.stdout.split() == ["cvol1"]
    r = d.docker("volume", "inspect", "cvol1")
    (v,) = json.loads(r.stdout)
    assert v["Mountpoint"] == f"{d.data_root}/volumes/cvol1/_data"
    assert v["Labels"] == {"app": "web"} and v["Scope"] == "local"
    r = d.docker("volume", "inspect", "-f", '{{.Driver}} {{index .Labels "app"}}', "cvol1")
    assert r.stdout == "local web\n"
    r = d.docker("volume", "rm", "cvol1")
    assert r.stdout == "cvol1\n"
    r = d.docker("volume", "rm", "cvol1")
    assert r.returncode == 1
    assert "Error response from daemon: get cvol1: no such volume" in r.stderr
    r = d.docker("volume", "create", "..")
    assert r.returncode == 1 and "includes invalid characters" in r.stderr


def test_docker_volume_prune(d):
    d.docker("volume", "create", "named1", check=True)
    anon = d.docker("volume", "create", check=True).stdout.strip()
    r = d.docker("volume", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert anon in r.stdout and "named1" not in r.stdout
    assert "Total reclaimed space: 0B" in r.stdout
    r = d.docker("volume", "prune", "-af")
    assert "named1" in r.stdout


def test_docker_events_since_until(d):
    since = time.time()
    d.docker("volume", "create", "evvol", check=True)
    d.docker("volume", "rm", "evvol", check=True)
    until = time.time() + 0.05
    r = d.docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["volume create evvol", "volume destroy evvol"]
    r = d.docker(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", "event=destroy"
    )
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and " volume destroy evvol (driver=local)" in lines[0]


def test_dockyard_cli_matches_docker(d):
    d.docker("volume", "create", "same1", check=True)
    d.docker("volume", "create", "--label", "k=v", "same2", check=True)
    for args in (
        ["volume", "ls"],
        ["volume", "ls", "-q"],
        ["volume", "ls", "--format", "{{.Name}}\t{{.Labels}}"],
        ["volume", "ls", "--format", "table {{.Name}}\t{{.Driver}}"],
        ["volume", "inspect", "same2"],
        ["volume", "inspect", "--format", "{{json .Labels}}", "same2"],
        ["volume", "rm", "nope-vol"],
        ["system", "df"],
    ):
        theirs, ours = d.docker(*args), d.dockyard(*args)
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode,
            theirs.stdout,
            theirs.stderr,
        ), args
    d.docker("volume", "rm", "same1", "same2", check=True)
