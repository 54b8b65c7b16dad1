"""Mounts that would land inside /proc through an image's symlink: the lexical check at create
cannot see them (the destination is /x), so the runtime checks where the mount point really
is after resolving it inside the root (runc's checkProcMount), and the start is a 400."""

from __future__ import annotations

import pytest

from daemon_fixture import raw_request, running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


@pytest.mark.parametrize("target", ["/proc/sys", "/proc/sys/kernel", "proc/sys/kernel"])
def test_bind_onto_a_symlink_into_proc_is_refused(d, busybox_rootfs, tmp_path, hx, target):
    src = tmp_path / "src"
    src.mkdir()
    (src / "core_pattern").write_text("|/x\n")
    before = open("/proc/sys/kernel/core_pattern").read()
    tag = hx.import_image(d, hx.image_tar(busybox_rootfs, {"x": hx.symlink_entry(target)}))
    r = d.docker("create", "--name", "procx", "-v", f"{src}:/x", tag, "true")
    assert r.returncode == 0, r.stderr  # lexically /x is fine
    try:
        r = d.docker("start", "procx")
        assert r.returncode != 0
        assert "cannot be mounted because it is inside" in r.stderr, r.stderr
        assert raw_request(d.sock, "POST", "/containers/procx/start") == 400
        assert open("/proc/sys/kernel/core_pattern").read() == before
    finally:
        assert d.docker("rm", "-f", "procx").returncode == 0


def test_a_bind_onto_an_allowed_proc_file_through_a_link_works(d, busybox_rootfs, tmp_path, hx):
    """runc's allow-list holds after resolution too: /x -> /proc/meminfo may be bound."""
    src = tmp_path / "meminfo"
    src.write_text("MemTotal: 42 kB\n")
    tag = hx.import_image(d, hx.image_tar(busybox_rootfs, {"x": hx.symlink_entry("/proc/meminfo")}))
    r = d.docker("run", "--rm", "-v", f"{src}:/x", tag, "cat", "/proc/meminfo")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "MemTotal: 42 kB\n"
