"""Names, configuration merging and validation, mount parsing, views and the record store."""

from __future__ import annotations

import signal

import pytest

from dockyard.containers import config, mounts, names, views
from dockyard.containers.store import ContainerStore
from dockyard.errors import Conflict, InvalidParameter, NotFound


def test_names():
    assert names.validate_name("web") == "/web"
    assert names.validate_name("/web.1_a-b") == "/web.1_a-b"
    for bad in ("a", "-x", "has space", "x/y", ""):
        with pytest.raises(InvalidParameter):
            names.validate_name(bad)
    generated = names.generate_name()
    assert names.NAME_PATTERN.match(generated) and "_" in generated


def test_merge_with_image():
    image = {
        "config": {
            "Env": ["PATH=/bin", "A=1"],
            "Cmd": ["sh"],
            "WorkingDir": "/w",
            "Labels": {"x": "1"},
            "Volumes": {"/data": {}},
        }
    }
    merged = config.merge_config(image, {"Image": "i", "Env": ["A=2", "B=3"], "Labels": {"y": "2"}})
    assert merged["Env"] == ["A=2", "B=3", "PATH=/bin"]  # moby: the user's first
    assert merged["Cmd"] == ["sh"] and merged["WorkingDir"] == "/w"
    assert merged["Labels"] == {"x": "1", "y": "2"} and merged["Volumes"] == {"/data": {}}
    assert config.command_of(merged) == ["sh"]
    # an Entrypoint given by the user drops the image's Cmd, as Docker does
    merged = config.merge_config(
        {"config": {"Cmd": ["sh"], "Entrypoint": ["/init"]}}, {"Entrypoint": ["echo"]}
    )
    assert config.command_of(merged) == ["echo"]
    merged = config.merge_config(
        {"config": {"Cmd": ["x"], "Entrypoint": ["/init"]}}, {"Cmd": ["y"]}
    )
    assert config.command_of(merged) == ["/init", "y"]


def test_host_config_validation():
    config.validate_host_config(
        {"Memory": 0, "Devices": [], "BlkioWeight": 0, "Runtime": "runc", "Isolation": ""}
    )
    with pytest.raises(InvalidParameter, match="Devices"):
        config.validate_host_config({"Devices": [{"PathOnHost": "/dev/sda"}]})
    with pytest.raises(InvalidParameter, match="UsernsMode"):
        config.validate_host_config({"UsernsMode": "host"})
    with pytest.raises(InvalidParameter, match="restart policy"):
        config.validate_host_config({"RestartPolicy": {"Name": "sometimes"}})
    with pytest.raises(InvalidParameter):
        config.validate_host_config({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})
    with pytest.raises(InvalidParameter):
        config.validate_host_config({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}})


def test_signals():
    assert config.parse_signal("KILL") == signal.SIGKILL
    assert config.parse_signal("SIGTERM") == signal.SIGTERM
    assert config.parse_signal("9") == 9 and config.parse_signal(None) == signal.SIGTERM
    for bad in ("NOPE", "0", "99"):
        with pytest.raises(InvalidParameter):
            config.parse_signal(bad)


def test_mount_plans():
    plan = mounts.plan(
        {"Volumes": {"/anon": {}, "/d": {}}},
        {
            "Binds": ["/host:/h:ro", "named:/d"],
            "Tmpfs": {"/run": "size=64m"},
            "Mounts": [
                {
                    "Type": "volume",
                    "Target": "/m",
                    "Source": "mv",
                    "VolumeOptions": {"NoCopy": True},
                }
            ],
        },
    )
    by_dest = {p["Destination"]: p for p in plan}
    assert by_dest["/anon"]["Anonymous"] and by_dest["/anon"]["Type"] == "volume"
    assert by_dest["/d"]["Name"] == "named"  # the bind wins over the image's volume
    assert by_dest["/h"]["Type"] == "bind" and by_dest["/h"]["RW"] is False
    assert by_dest["/run"]["Type"] == "tmpfs" and by_dest["/run"]["Options"] == ["size=64m"]
    assert by_dest["/m"]["CopyUp"] is False
    entry = mounts.inspect_entry(by_dest["/d"])
    assert entry == {
        "Type": "volume",
        "Name": "named",
        "Source": "",
        "Destination": "/d",
        "Driver": "local",
        "Mode": "z",
        "RW": True,
        "Propagation": "",
    }
    assert mounts.oci_mount(by_dest["/h"], "/host")["options"] == ["rbind", "rprivate", "ro"]
    for bad in ("nocolon", "/a:relative", "../x:/y", "/a:/b:bogus"):
        with pytest.raises(InvalidParameter):
            mounts.plan({}, {"Binds": [bad]})
    with pytest.raises(InvalidParameter, match="Duplicate mount point"):
        mounts.plan({}, {"Binds": ["a:/x", "b:/x"]})


def test_human_durations_and_status():
    assert views.human_duration(0.5) == "Less than a second"
    assert views.human_duration(1) == "1 second"
    assert views.human_duration(3) == "3 seconds"
    assert views.human_duration(61) == "About a minute"
    assert views.human_duration(300) == "5 minutes"
    assert views.human_duration(3600) == "About an hour"
    assert views.human_duration(5 * 3600) == "5 hours"
    assert views.human_duration(3 * 86400) == "3 days"
    state = {
        "Status": "exited",
        "ExitCode": 2,
        "FinishedAt": "2000-01-01T00:00:00Z",
        "StartedAt": "2000-01-01T00:00:00Z",
    }
    assert views.status_text(state, None).startswith("Exited (2) ")
    assert views.status_text({**state, "Status": "created"}, None) == "Created"
    running = {**state, "Status": "running"}
    assert views.status_text(running, {"Status": "healthy"}).endswith("(healthy)")
    assert views.status_text(running, {"Status": "starting"}).endswith("(health: starting)")
    with pytest.raises(InvalidParameter):
        views.validate_filters({"bogus": ["x"]})
    with pytest.raises(InvalidParameter):
        views.validate_filters({"status": ["sleeping"]})
    assert views.label_matches({"a": "1"}, "a") and views.label_matches({"a": "1"}, "a=1")
    assert not views.label_matches({"a": "1"}, "a=2")


def _record(cid: str, name: str) -> dict:
    return {"Id": cid, "Name": name, "Config": {}, "HostConfig": {}}


def test_store_lookup_and_names(tmp_path):
    store = ContainerStore(str(tmp_path))
    a, b = "abc" + "0" * 61, "abd" + "1" * 61
    store.add(_record(a, "/web"))
    store.add(_record(b, "/db"))
    assert store.resolve("web") == a and store.resolve("/db") == b
    assert store.resolve("abc") == a and store.resolve(a) == a
    with pytest.raises(InvalidParameter, match="multiple IDs found with provided prefix: ab"):
        store.resolve("ab")
    with pytest.raises(NotFound, match="No such container: web9"):
        store.resolve("web9")
    with pytest.raises(Conflict, match='The container name "/web" is already in use'):
        store.add(_record("f" * 64, "/web"))
    store.rename(a, "/site")
    assert store.resolve("site") == a and not store.name_taken("/web")
    reopened = ContainerStore(str(tmp_path))
    assert reopened.resolve("site") == a and reopened.read_state(a)["Status"] == "created"
    reopened.delete(a)
    assert reopened.ids() == [b]


@pytest.mark.parametrize("value", ["²", "٣", "１"])
def test_a_signal_of_non_ascii_digits_is_invalid(value):
    """Go's strconv reads ASCII digits only (a Unicode digit was a 500 from int())."""
    from dockyard.containers.config import parse_signal

    with pytest.raises(InvalidParameter, match="Invalid signal"):
        parse_signal(value)
