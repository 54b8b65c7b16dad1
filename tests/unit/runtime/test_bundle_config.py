"""config.json validation: clear errors for bad bundles."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidParameter, NotFound
from dockyard.runtime.config import load_bundle, validate_id
from dockyard.runtime.defaults import default_spec


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs" / "etc").mkdir(parents=True)
    (tmp_path / "rootfs" / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/app:/bin/sh\n"
    )
    return tmp_path


def _write(bundle, conf):
    (bundle / "config.json").write_text(json.dumps(conf))


def test_default_spec_loads(bundle):
    _write(bundle, default_spec())
    conf = load_bundle(str(bundle))
    assert conf["root"]["path"] == str(bundle / "rootfs")


def test_malformed_json(bundle):
    (bundle / "config.json").write_text("{nope")
    with pytest.raises(InvalidParameter, match="malformed config.json"):
        load_bundle(str(bundle))


def test_missing_bundle_and_config(tmp_path):
    with pytest.raises(NotFound, match="no such directory"):
        load_bundle(str(tmp_path / "nowhere"))
    with pytest.raises(NotFound, match="config.json not found"):
        load_bundle(str(tmp_path))


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "is not known"),
        (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "given twice"),
        (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "not supported"),
        (lambda c: c["root"].update(path="missing"), "does not exist"),
        (lambda c: c["process"].update(args=[]), "process.args"),
        (lambda c: c["process"].update(cwd="relative"), "process.cwd"),
        (lambda c: c["process"]["user"].update(username="ghost"), "unable to find user ghost"),
        (
            lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
            "rlimit type",
        ),
        (
            lambda c: c["process"].update(
                rlimits=[{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]
            ),
            "exceeds hard",
        ),
        (lambda c: c["mounts"].append({"destination": "rel", "type": "tmpfs"}), "absolute"),
        (lambda c: c["linux"].update(namespaces=[{"type": "mount"}]), "hostname"),
    ],
)
def test_invalid(bundle, edit, message):
    conf = default_spec()
    edit(conf)
    _write(bundle, conf)
    with pytest.raises((InvalidParameter, NotFound), match=message):
        load_bundle(str(bundle))


def test_username_resolved(bundle):
    conf = default_spec()
    conf["process"]["user"] = {"username": "app"}
    _write(bundle, conf)
    user = load_bundle(str(bundle))["process"]["user"]
    assert (user["uid"], user["gid"]) == (1001, 1002)


@pytest.mark.parametrize("good", ["abc", "a-b_c.d+1", "x" * 64])
def test_ids_ok(good):
    validate_id(good)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b"])
def test_ids_bad(bad):
    with pytest.raises(InvalidParameter):
        validate_id(bad)
