"""Every API input checked as dockerd checks it, through a real daemon: numbers against their
Go types, names matched whole and in ASCII, query numbers read as strconv reads them, mount
destinations as moby and runc check them. Each refusal is a 4xx with Docker's words and
leaves nothing stored; the daemon and the containers it had are unharmed."""

from __future__ import annotations

import http.client
import json
import socket
import uuid
from typing import Any

import pytest

from daemon_fixture import running_daemon
from support import is_root

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (a real daemon)")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.unix_path)


def call(d, method: str, url: str, body: Any = None, raw: bytes | None = None):
    """(status, parsed JSON or raw bytes) of one request."""
    conn = _UnixConnection(d.sock)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, url, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    if resp.getheader("Content-Type", "").startswith("application/json"):
        return resp.status, json.loads(payload)
    return resp.status, payload


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        status, body = call(
            daemon,
            "POST",
            "/containers/create?name=keeper",
            {"Image": "busybox", "Cmd": ["sh", "-c", "echo one; echo two; echo three; sleep 300"]},
        )
        assert status == 201, body
        assert call(daemon, "POST", "/containers/keeper/start")[0] == 204
        yield daemon


def _containers(d) -> list[str]:
    status, body = call(d, "GET", "/containers/json?all=1")
    assert status == 200
    return sorted(c["Id"] for c in body)


def _keeper_is_intact(d) -> None:
    status, body = call(d, "GET", "/containers/keeper/json")
    assert status == 200 and body["State"]["Running"] is True
    r = d.docker("inspect", "--format", "{{.HostConfig.Memory}}", "keeper")
    assert r.returncode == 0 and r.stdout.strip() == "0"


def _create(d, body: dict[str, Any], name: str | None = None):
    url = "/containers/create" + (f"?name={name}" if name else "")
    return call(d, "POST", url, raw=json.dumps({"Image": "busybox", **body}).encode())


# --- numbers against their Go types ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"Image": "busybox", "HostConfig": {"Memory": 1e+26}}',
            "json: cannot unmarshal number 1e+26 into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            b'{"Image": "busybox", "HostConfig": {"Memory": 1e26}}',
            "cannot unmarshal number 1e26 into Go struct field HostConfig.HostConfig.Memory",
        ),
        (
            b'{"Image": "busybox", "HostConfig": {"NanoCpus": 9223372036854775808}}',
            "number 9223372036854775808 into Go struct field HostConfig.HostConfig.NanoCpus",
        ),
        (
            b'{"Image": "busybox", "HostConfig": {"BlkioWeight": 70000}}',
            "HostConfig.HostConfig.BlkioWeight of type uint16",
        ),
        (
            b'{"Image": "busybox", "HostConfig": {"ConsoleSize": [-1, 80]}}',
            "HostConfig.HostConfig.ConsoleSize of type uint",
        ),
        (
            b'{"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 1e30}]}}',
            "Ulimit.HostConfig.Ulimits.Soft of type int64",
        ),
        (b'{"Image": "busybox", "StopTimeout": 1.5}', "CreateRequest.StopTimeout of type int"),
        (b'{"Image": "busybox", "Tty": "yes"}', "CreateRequest.Tty of type bool"),
        (b'{"Image": "busybox", "HostConfig": {"Memory": NaN}}', "invalid JSON"),
    ],
)
def test_numbers_out_of_their_go_type_are_refused_and_nothing_stored(d, raw, message):
    before = _containers(d)
    status, body = call(d, "POST", f"/containers/create?name=n{uuid.uuid4().hex[:8]}", raw=raw)
    assert status == 400
    assert message in body["message"]
    assert _containers(d) == before
    _keeper_is_intact(d)


def test_versioned_paths_are_checked_too(d):
    before = _containers(d)
    raw = b'{"Image": "busybox", "HostConfig": {"Memory": 1e+26}}'
    status, body = call(d, "POST", "/v1.47/containers/create", raw=raw)
    assert status == 400
    assert "HostConfig.HostConfig.Memory of type int64" in body["message"]
    status, body = call(d, "POST", "/v1.44/volumes/create", raw=b'{"Labels": {"a": 1}}')
    assert status == 400
    assert "CreateOptions.Labels of type string" in body["message"]
    assert _containers(d) == before


def test_update_with_a_number_out_of_range_changes_nothing(d):
    status, body = call(d, "POST", "/containers/keeper/update", raw=b'{"Memory": 1e26}')
    assert status == 400
    assert "UpdateConfig.Memory of type int64" in body["message"]
    _keeper_is_intact(d)


def test_exec_console_size_out_of_range(d):
    status, body = call(
        d, "POST", "/containers/keeper/exec", {"Cmd": ["true"], "ConsoleSize": [1, -5]}
    )
    assert status == 400
    assert "ExecOptions.ConsoleSize of type uint" in body["message"]
    status, body = call(d, "POST", "/containers/keeper/exec", {"Cmd": ["true"], "Tty": 3})
    assert status == 400 and "ExecOptions.Tty of type bool" in body["message"]


# --- names matched whole and in ASCII -------------------------------------------------------


@pytest.mark.parametrize("name", ["nl%0A", "%C3%A9t%C3%A9", "ab%0Acd", "x%00"])
def test_container_names_with_newline_or_non_ascii(d, name):
    before = _containers(d)
    status, body = _create(d, {"Cmd": ["true"]}, name)
    assert status == 400
    assert body["message"].startswith("Invalid container name (")
    assert body["message"].endswith("only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    assert _containers(d) == before


def test_rename_to_a_name_with_newline(d):
    status, body = call(d, "POST", "/containers/keeper/rename?name=k%0A")
    assert status == 400
    assert body["message"].startswith("Invalid container name (k\n)")
    assert call(d, "GET", "/containers/keeper/json")[0] == 200


def test_volume_name_with_newline(d):
    status, body = call(d, "POST", "/volumes/create", {"Name": "abc\n"})
    assert status == 400
    assert body["message"] == (
        '"abc\\n" includes invalid characters for a local volume name, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
        "use absolute path"
    )
    status, body = call(d, "GET", "/volumes")
    assert all(v["Name"].strip() != "abc" for v in body["Volumes"] or [])


def test_tag_with_unicode_or_newline(d):
    status, body = call(d, "POST", "/images/busybox/tag?repo=keep&tag=%C3%A9t%C3%A9")
    assert status == 400
    status, body = call(d, "POST", "/images/busybox/tag?repo=keep&tag=v1%0A")
    assert status == 400
    status, body = call(d, "GET", "/images/json")
    assert not any("keep" in t for i in body for t in i.get("RepoTags") or [])


# --- query numbers read as strconv reads them -----------------------------------------------


def _logs(d, query: str):
    return call(d, "GET", f"/containers/keeper/logs?stdout=1&{query}")


def _lines(payload: bytes) -> list[str]:
    out, i = [], 0
    while i + 8 <= len(payload):  # stdcopy frames
        size = int.from_bytes(payload[i + 4 : i + 8], "big")
        out += payload[i + 8 : i + 8 + size].decode().splitlines()
        i += 8 + size
    return out


@pytest.mark.parametrize(
    ("query", "lines"),
    [
        ("tail=99999999999999999999999", ["one", "two", "three"]),
        ("tail=9223372036854775807", ["one", "two", "three"]),
        ("tail=all", ["one", "two", "three"]),
        ("tail=abc", ["one", "two", "three"]),
        ("tail=1e3", ["one", "two", "three"]),
        ("tail=-1", ["one", "two", "three"]),
        ("tail=1", ["three"]),
        ("tail=0", []),
        ("since=9223372036854775807", []),
        ("until=9223372036854775807.999999999", ["one", "two", "three"]),
    ],
)
def test_logs_query_numbers(d, query, lines):
    status, payload = _logs(d, query)
    assert status == 200
    assert _lines(payload) == lines


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=abc", 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ("since=1e400", 'strconv.ParseInt: parsing "1e400": invalid syntax'),
        (
            "since=99999999999999999999",
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
        ("until=1.x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ],
)
def test_logs_bad_timestamps(d, query, message):
    status, body = _logs(d, query)
    assert status == 400
    assert body["message"] == message


@pytest.mark.parametrize(
    ("method", "url", "message"),
    [
        ("GET", "/containers/json?limit=1e99", 'strconv.Atoi: parsing "1e99": invalid syntax'),
        (
            "GET",
            "/containers/json?limit=99999999999999999999",
            'strconv.Atoi: parsing "99999999999999999999": value out of range',
        ),
        ("GET", "/containers/json?limit=%EF%BC%91", "invalid syntax"),  # a full-width digit
        (
            "POST",
            "/containers/keeper/stop?t=99999999999999999999",
            'strconv.Atoi: parsing "99999999999999999999": value out of range',
        ),
        ("POST", "/containers/keeper/restart?t=1_0", 'strconv.Atoi: parsing "1_0": invalid'),
        ("POST", "/containers/keeper/stop?t=%205", 'strconv.Atoi: parsing " 5": invalid syntax'),
        ("POST", "/containers/keeper/resize?h=99999999999999999999&w=1", "value out of range"),
        ("POST", "/containers/keeper/resize?w=80", 'strconv.Atoi: parsing "": invalid syntax'),
        ("POST", "/containers/keeper/resize?h=1&w=", 'strconv.Atoi: parsing "": invalid syntax'),
    ],
)
def test_query_ints_are_strconv_atoi(d, method, url, message):
    status, body = call(d, method, url)
    assert status == 400
    assert message in body["message"]
    _keeper_is_intact(d)


def test_exec_resize_needs_both_numbers(d):
    status, body = call(d, "POST", "/containers/keeper/exec", {"Cmd": ["true"]})
    assert status == 201
    status, answer = call(d, "POST", f"/exec/{body['Id']}/resize?h=10")
    assert status == 400 and answer["message"] == 'strconv.Atoi: parsing "": invalid syntax'


@pytest.mark.parametrize("value", ["1_0", "%205", "99999999999999999999", "1e3"])
def test_build_prune_keep_storage_is_parseint(d, value):
    status, body = call(d, "POST", f"/build/prune?keep-storage={value}")
    assert status == 400
    assert body["message"].startswith("keep-storage is in bytes and expects an integer: ")
    assert "strconv.ParseInt: parsing" in body["message"]


@pytest.mark.parametrize("t", ["2592000", "9223372036854775807"])
def test_stop_with_a_far_timeout_stops_a_container_that_exits_on_term(d, t):
    name = f"far{uuid.uuid4().hex[:6]}"
    script = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
    status, body = _create(d, {"Cmd": ["sh", "-c", script]}, name)
    assert status == 201, body
    assert call(d, "POST", f"/containers/{name}/start")[0] == 204
    assert call(d, "POST", f"/containers/{name}/restart?t={t}")[0] == 204
    assert call(d, "POST", f"/containers/{name}/stop?t={t}")[0] == 204
    status, body = call(d, "GET", f"/containers/{name}/json")
    assert body["State"]["Status"] == "exited" and body["State"]["ExitCode"] == 0
    assert call(d, "DELETE", f"/containers/{name}")[0] == 204


def test_list_limit_at_the_int64_edges(d):
    for limit in ("9223372036854775807", "-9223372036854775808"):
        status, body = call(d, "GET", f"/containers/json?limit={limit}")
        assert status == 200 and any(c["Names"] == ["/keeper"] for c in body)


# --- mount destinations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        (
            {"Binds": ["/tmp:/x/../.."]},
            "invalid volume specification: '/tmp:/x/../..': invalid mount config for type "
            "\"bind\": invalid specification: destination can't be '/'",
        ),
        (
            {"Binds": ["/tmp:/proc/sys/kernel"]},
            "invalid volume specification: '/tmp:/proc/sys/kernel': invalid mount config for "
            'type "bind": "/proc/sys/kernel" cannot be mounted because it is inside /proc',
        ),
        (
            {"Binds": ["vol1:/proc/../proc/sysrq-trigger"]},
            '"/proc/sysrq-trigger" cannot be mounted because it is inside /proc',
        ),
        (
            {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/proc/sys"}]},
            'invalid mount config for type "bind": "/proc/sys" cannot be mounted because it is '
            "inside /proc",
        ),
        (
            {"Mounts": [{"Type": "tmpfs", "Target": "/proc"}]},
            '"/proc" cannot be mounted because it is not of type proc',
        ),
        ({"Tmpfs": {"/proc/1": ""}}, "cannot be mounted because it is inside /proc"),
        ({"Tmpfs": {"/a/..": ""}}, "destination can't be '/'"),
        ({"Binds": ["/tmp:rel"]}, "'rel' mount path must be absolute"),
    ],
)
def test_mount_destinations_are_refused_at_create(d, host_config, message):
    before = _containers(d)
    status, vols_before = call(d, "GET", "/volumes")
    status, body = _create(d, {"Cmd": ["true"], "HostConfig": host_config})
    assert status == 400
    assert message in body["message"]
    assert _containers(d) == before
    assert call(d, "GET", "/volumes")[1] == vols_before


def test_config_volumes_onto_root_or_proc(d):
    for dest, message in (("/", "destination can't be '/'"), ("/proc/sys", "inside /proc")):
        status, body = _create(d, {"Cmd": ["true"], "Volumes": {dest: {}}})
        assert status == 400
        assert f"invalid volume specification: '{dest}'" in body["message"]
        assert message in body["message"]


def test_allowed_proc_files_can_be_overmounted(d, tmp_path):
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal: 1 kB\n")
    r = d.docker("run", "--rm", "-v", f"{fake}:/proc/meminfo:ro", "busybox", "cat", "/proc/meminfo")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "MemTotal: 1 kB\n"
    r = d.docker("run", "--rm", "-v", "/tmp:/proc/sys/kernel", "busybox", "true")
    assert r.returncode != 0
    assert "cannot be mounted because it is inside /proc" in r.stderr
