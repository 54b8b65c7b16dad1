"""The daemon's container defaults (daemon.json) filled into a HostConfig at create."""

from __future__ import annotations

import pytest

from dockyard.containers.defaults import ContainerDefaults

SETTINGS = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
    "no-new-privileges": True,
    "default-shm-size": "128M",
}


def test_defaults_fill_what_the_container_leaves_unset():
    hc = ContainerDefaults.from_settings(SETTINGS).apply({})
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["ShmSize"] == 128 * 1024 * 1024


def test_container_settings_win():
    given = {
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
        "SecurityOpt": ["no-new-privileges=false"],
        "ShmSize": 1 << 20,
    }
    hc = ContainerDefaults.from_settings(SETTINGS).apply(given)
    assert hc["LogConfig"]["Config"] == {"max-size": "1m", "max-file": "3"}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["SecurityOpt"] == ["no-new-privileges=false"]
    assert hc["ShmSize"] == 1 << 20
    assert given["LogConfig"]["Config"] == {"max-size": "1m"}  # not changed in place


def test_another_driver_does_not_take_the_daemon_log_opts():
    hc = ContainerDefaults.from_settings(SETTINGS).apply({"LogConfig": {"Type": "none"}})
    assert hc["LogConfig"] == {"Type": "none", "Config": {}}


@pytest.mark.parametrize(
    "settings",
    [
        {"log-driver": "syslog"},
        {"log-opts": {"bogus": "1"}},
        {"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 5, "Hard": 1}}},
        {"default-shm-size": "lots"},
        {"no-new-privileges": "yes"},
    ],
)
def test_invalid_defaults_are_errors(settings):
    with pytest.raises(ValueError):
        ContainerDefaults.from_settings(settings)
