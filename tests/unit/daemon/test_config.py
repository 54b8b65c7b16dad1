"""dockerd's flags and daemon.json, with dockerd's errors."""

from __future__ import annotations

import json

import pytest

from dockyard.daemon.config import DEFAULT_HOST, ConfigError, load


def _file(tmp_path, obj) -> str:
    p = tmp_path / "daemon.json"
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(p)


def test_defaults(tmp_path):
    cfg = load(["--config-file", _file(tmp_path, {})])
    assert cfg.hosts == [DEFAULT_HOST]
    assert cfg.data_root == "/var/lib/dockyard"
    assert cfg.exec_root == "/run/dockyard"
    assert cfg.log_level == "info"
    assert cfg.get("bridge") == "dockyard0"


def test_flags_and_file_merge(tmp_path):
    f = _file(
        tmp_path,
        {
            "insecure-registries": ["127.0.0.1:5000"],
            "log-level": "debug",
            "registry-mirrors": ["http://m"],
            "default-ulimits": {},
        },
    )
    cfg = load(
        [
            "--config-file",
            f,
            "-H",
            "unix:///tmp/a.sock",
            "-H",
            "unix:///tmp/b.sock",
            "--data-root",
            "/tmp/dr",
        ]
    )
    assert cfg.hosts == ["unix:///tmp/a.sock", "unix:///tmp/b.sock"]
    assert cfg.data_root == "/tmp/dr"
    assert cfg.log_level == "debug"
    assert cfg.get("insecure-registries") == ["127.0.0.1:5000"]


def test_unknown_key_is_an_error(tmp_path):
    f = _file(tmp_path, {"bogus": 1, "zzz": 2, "data-root": "/x"})
    with pytest.raises(
        ConfigError,
        match="the following directives don't match any configuration option: bogus, zzz",
    ):
        load(["--config-file", f])


def test_flag_and_file_conflict(tmp_path):
    f = _file(tmp_path, {"data-root": "/x"})
    with pytest.raises(ConfigError, match="specified both as a flag and in the configuration"):
        load(["--config-file", f, "--data-root", "/y"])


def test_bad_json_and_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError):
        load(["--config-file", _file(tmp_path, "{not json")])
    with pytest.raises(ConfigError, match="no such file"):
        load(["--config-file", str(tmp_path / "missing.json")])


def test_tcp_needs_tls(tmp_path):
    f = _file(tmp_path, {})
    with pytest.raises(ConfigError, match="without TLS"):
        load(["--config-file", f, "-H", "tcp://127.0.0.1:2375"])
    with pytest.raises(ConfigError, match="without TLS"):
        load(
            [
                "--config-file",
                f,
                "-H",
                "tcp://127.0.0.1:2376",
                "--tlsverify",
                "--tlscert",
                "c",
                "--tlskey",
                "k",
            ]
        )
    cfg = load(
        [
            "--config-file",
            f,
            "-H",
            "tcp://127.0.0.1:2376",
            "--tlsverify",
            "--tlscacert",
            "ca",
            "--tlscert",
            "c",
            "--tlskey",
            "k",
        ]
    )
    assert cfg.tlsverify
    with pytest.raises(ConfigError, match="unsupported scheme"):
        load(["--config-file", f, "-H", "fd://"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"iptables": False}, "daemon option iptables: false"),
        ({"mtu": 9000}, "daemon option mtu: 9000"),
        ({"userland-proxy": True}, "daemon option userland-proxy: true"),
        ({"fixed-cidr": "10.201.3.0/24"}, "daemon option fixed-cidr"),
        ({"userns-remap": "default"}, "daemon option userns-remap"),
        ({"max-concurrent-downloads": 10}, "daemon option max-concurrent-downloads"),
        ({"default-runtime": "crun"}, 'only "runc" is supported'),
        ({"live-restore": False}, "does not support live-restore: false"),
    ],
)
def test_options_dockyard_does_not_enact_are_refused(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        load(["--config-file", _file(tmp_path, settings)])


def test_flags_dockyard_does_not_enact_are_refused(tmp_path):
    f = _file(tmp_path, {})
    for flags, message in (
        (["--iptables=false"], "iptables"),
        (["--ip-masq=false"], "ip-masq"),
        (["--mtu", "1400"], "mtu"),
        (["--fixed-cidr", "10.201.9.0/25"], "fixed-cidr"),
    ):
        with pytest.raises(ConfigError, match=f"daemon option {message}"):
            load(["--config-file", f, *flags])


def test_values_describing_what_dockyard_does_are_accepted(tmp_path):
    settings = {
        "live-restore": True,
        "iptables": True,
        "userland-proxy": False,
        "mtu": 1500,
        "storage-driver": "overlay2",
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}},
        "no-new-privileges": True,
        "default-shm-size": "128M",
        "features": {},
    }
    cfg = load(
        [
            "--config-file",
            _file(tmp_path, settings),
        ]
    )
    assert cfg.get("log-opts") == {"max-size": "10m", "max-file": "3"}
