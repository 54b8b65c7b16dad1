"""Acceptance 7 of issue 2: bad input gives a clear error and leaves nothing behind (no state,
cgroup directory, process or mount)."""

from __future__ import annotations

import json
import os
import resource

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound, SystemError_


@pytest.fixture
def nothing_left(rt, tag, busybox_rootfs, leftover_children, tmp_path):
    """Checks after the test that the runtime left nothing: no state entry, cgroup
    directory, child process or mount of the test's paths."""
    yield
    if os.path.exists(rt.root):
        assert os.listdir(rt.root) == []
    for h in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(os.path.join("/sys/fs/cgroup", h, f"dockyard-rt-{tag}"))
    assert leftover_children() == []
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert busybox_rootfs not in mounts and str(tmp_path) not in mounts


def cli_refuses(runtime_cli, bundle: str, message: str, cid: str = "bad") -> None:
    """`dockyard-runtime run` of `bundle` fails as runc does: status 1, one error line."""
    r = runtime_cli("run", "--bundle", bundle, cid)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "level=error" in r.stderr and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


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
    cli_refuses(runtime_cli, bundle, "malformed config.json")


def test_missing_rootfs(bundles, rt, runtime_cli, nothing_left, tmp_path):
    bundle = bundles.make(["true"], edit=lambda c: c.update(root={"path": "no-such-rootfs"}))
    with pytest.raises(NotFound, match=r"rootfs \(.*no-such-rootfs\) does not exist"):
        rt.create("bad", bundle)
    cli_refuses(runtime_cli, bundle, "no-such-rootfs) does not exist")


def test_unknown_namespace_type(bundles, rt, runtime_cli, nothing_left):
    bundle = bundles.make(
        ["true"], edit=lambda c: c["linux"]["namespaces"].append({"type": "bogus"})
    )
    with pytest.raises(InvalidParameter, match="namespace type 'bogus' is not known"):
        rt.create("bad", bundle)
    cli_refuses(runtime_cli, bundle, "namespace type 'bogus' is not known")


def test_user_name_not_in_image(bundles, rt, runtime_cli, nothing_left):
    bundle = bundles.make(
        ["id"], edit=lambda c: c["process"]["user"].update(username="no-such-user")
    )
    with pytest.raises(InvalidParameter, match="unable to find user no-such-user"):
        rt.create("bad", bundle)
    cli_refuses(runtime_cli, bundle, "unable to find user no-such-user")


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
    cli_refuses(runtime_cli, str(tmp_path / "nowhere"), "no such directory")


def test_id_in_use(bundles, rt, runtime_cli, nothing_left):
    bundle = bundles.make(["sleep", "30"])
    pid = rt.create("taken", bundle)
    try:
        with pytest.raises(Conflict, match="container with id exists: taken"):
            rt.create("taken", bundle)
        cli_refuses(runtime_cli, bundle, "container with id exists: taken", cid="taken")
        # the container that holds the id is untouched: its process, cgroups and state
        assert rt.state("taken")["status"] == "created" and rt.state("taken")["pid"] == pid
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        cgroups = rt.store.load("taken").cgroups
        assert all(os.path.isdir(d) for d in cgroups["v1"].values())
        with open(os.path.join(cgroups["v1"]["pids"], "cgroup.procs")) as f:
            assert f.read().split() == [str(pid)]
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
