"""drop_init_paths: the runtime's mount points leave a RUN step's layer, and a link the RUN
container planted on the way never makes the daemon touch a host file."""

from __future__ import annotations

import os

from dockyard.build.runner import drop_init_paths


def test_mount_points_made_for_the_run_are_dropped(tmp_path):
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    for d in ("upper/dev/shm", "upper/dev/pts", "upper/proc", "upper/etc", "lower/etc"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"):
        (upper / f).write_text("")
    (upper / "etc" / "kept").write_text("made by the RUN\n")
    (lower / "etc" / "hostname").write_text("from the image\n")
    drop_init_paths(str(upper), [str(lower)])
    assert sorted(os.listdir(upper)) == ["etc"]
    # hostname is in the image below: the empty one in upper is a real change, it stays
    assert sorted(os.listdir(upper / "etc")) == ["hostname", "kept"]


def test_a_planted_link_to_a_host_directory_is_not_followed(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    for f in ("hosts", "hostname", "resolv.conf"):
        (host / f).write_text("")
    (host / "mtab").mkdir()
    (host / "mtab" / "x").write_text("")
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    upper.mkdir()
    lower.mkdir()
    os.symlink(str(host), upper / "etc")  # RUN mv /etc /e && ln -s /host/dir /etc
    os.symlink(str(host), lower / "dev")  # and a layer below whose /dev leads out
    drop_init_paths(str(upper), [str(lower)])
    assert sorted(os.listdir(host)) == ["hostname", "hosts", "mtab", "resolv.conf"]
    assert os.listdir(host / "mtab") == ["x"]
    assert os.path.islink(upper / "etc")  # the RUN's own change stays in its layer
