"""Acceptance 7 of issue 2: bad input gives a clear error and leaves nothing behind (no state,
cgroup directory, process or mount)."""

from __future__ import annotations

import json
import os
import resource

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound, SystemError_


@pytest.fixture
def nothing_left(rt, tag, busybox_rootfs, leftover_children):
    """Checks after the test that the runtime left nothing."""
    yield
    assert os.listdir(rt.root) == [] or rt.list() == []
    for h in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(os.path.join("/sys/fs/cgroup", h, f"dockyard-rt-{tag}"))
    assert leftover_children() == []
    with open("/proc/self/mountinfo") as f:
        assert busybox_rootfs not in f.read()


def _write_config(bundle: str, text: str) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(text)


def _edit_config(bundle: str, edit) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        conf = json.load(f)
    edit(conf)
    with open(path, "w") as f:
        json.dump(conf, f)


def test_malformed_config(bundles, rt, runtime_cli, nothing_left):
    bundle = bundles.make(["true"])
    _write_config(bundle, '{"ociVersion": "1.0.2", "process": ')
    with pytest.raises(InvalidParameter, match="malformed config.json"):
        rt.create("bad", bundle)
    r = runtime_cli("run", "--bundle", bundle, "bad")
    assert r.returncode == 1
    assert "level=error" in r.stderr and "malformed config.json" in r.stderr


def test_missing_rootfs(bundles, rt, runtime_cli, nothing_left, tmp_path):
    bundle = bundles.make(["true"], edit=lambda c: c.update(root={"path": "no-such-rootfs"}))
    with pytest.raises(NotFound, match=r"rootfs \(.*no-such-rootfs\) does not exist"):
        rt.create("bad", bundle)
    r = runtime_cli("create", "--bundle", bundle, "bad")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_unknown_namespace_type(bundles, rt, nothing_left):
    bundle = bundles.make(
        ["true"], edit=lambda c: c["linux"]["namespaces"].append({"type": "bogus"})
    )
    with pytest.raises(InvalidParameter, match="namespace type 'bogus' is not known"):
        rt.create("bad", bundle)


def test_user_name_not_in_image(bundles, rt, nothing_left):
    bundle = bundles.make(
        ["id"], edit=lambda c: c["process"]["user"].update(username="no-such-user")
    )
    with pytest.raises(InvalidParameter, match="unable to find user no-such-user"):
        rt.create("bad", bundle)


def test_user_name_in_image_is_resolved(bundles, rt, tmp_path, nothing_left):
    bundle = bundles.make(
        ["id"], edit=lambda c: c["process"]["user"].update(username="daemon"), writable=True
    )
    os.chmod(os.path.join(bundle, "rootfs"), 0o755)  # pytest's temporary dirs are 0700
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert rt.run("named", bundle, stdout=out) == 0
    finally:
        os.close(out)
    assert (tmp_path / "out").read_text().startswith("uid=1(daemon) gid=1(daemon)")


def test_missing_bundle(rt, runtime_cli, tmp_path, nothing_left):
    with pytest.raises(NotFound, match="no such directory"):
        rt.create("bad", str(tmp_path / "nowhere"))
    r = runtime_cli("run", "--bundle", str(tmp_path / "nowhere"), "bad")
    assert r.returncode == 1 and "no such directory" in r.stderr


def test_id_in_use(bundles, rt, runtime_cli, nothing_left):
    bundle = bundles.make(["sleep", "30"])
    pid = rt.create("taken", bundle)
    try:
        with pytest.raises(Conflict, match="container with id exists: taken"):
            rt.create("taken", bundle)
        r = runtime_cli("create", "--bundle", bundle, "taken")
        assert r.returncode == 1 and "container with id exists: taken" in r.stderr
        assert rt.state("taken")["status"] == "created"
    finally:
        rt.delete("taken", force=True)
        os.waitpid(pid, 0)


def test_invalid_id(bundles, rt, nothing_left):
    with pytest.raises(InvalidParameter, match="invalid container id"):
        rt.create("../escape", bundles.make(["true"]))


def test_missing_executable(bundles, rt, nothing_left):
    bundle = bundles.make(["no-such-program"])
    with pytest.raises(SystemError_, match='"no-such-program": executable file not found'):
        rt.create("bad", bundle)


def test_bind_source_missing(bundles, rt, nothing_left, tmp_path):
    bundle = bundles.make(
        ["true"],
        edit=lambda c: c["mounts"].append(
            {
                "destination": "/x",
                "type": "bind",
                "source": str(tmp_path / "gone"),
                "options": ["rbind"],
            }
        ),
    )
    with pytest.raises(SystemError_, match="bind mount source .*gone does not exist"):
        rt.create("bad", bundle)


def test_rlimit_above_hard_limit_is_refused(bundles, rt, nothing_left):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    bundle = bundles.make(
        ["true"],
        edit=lambda c: c["process"].update(
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1}]
        ),
    )
    with pytest.raises(SystemError_, match="rlimit RLIMIT_NOFILE .*CAP_SYS_RESOURCE"):
        rt.create("bad", bundle)


def test_unknown_capability(bundles, rt, nothing_left):
    bundle = bundles.make(
        ["true"], edit=lambda c: c["process"]["capabilities"].update(bounding=["CAP_NOPE"])
    )
    with pytest.raises(InvalidParameter, match="CAP_NOPE"):
        rt.create("bad", bundle)
