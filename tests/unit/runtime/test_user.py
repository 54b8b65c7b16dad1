"""User resolution against an image's /etc/passwd and /etc/group, as Docker does it."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.user import group_ids, resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """# comment lines are allowed in group files
root:x:0:
daemon:x:1:
wheel:x:10:root,app
audio:x:29:app
staff:x:50:
app:x:1000:
nogroup:x:65534:
"""


@pytest.fixture
def rootfs(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    return str(tmp_path)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("", (0, 0, [10])),  # uid 0's entry, and root is a member of wheel
        ("root", (0, 0, [10])),
        ("app", (1000, 1000, [10, 29])),
        ("1000", (1000, 1000, [10, 29])),
        ("app:staff", (1000, 50, [])),  # an explicit group: no supplementary groups
        ("app:50", (1000, 50, [])),
        ("1000:1000", (1000, 1000, [])),
        ("4242", (4242, 0, [])),  # numeric and absent: used as is, gid 0
        ("4242:4343", (4242, 4343, [])),
        ("daemon:4343", (1, 4343, [])),
        ("nobody", (65534, 65534, [])),
    ],
)
def test_resolve_user(rootfs, spec, expected):
    assert resolve_user(rootfs, spec) == expected


def test_unknown_user_uses_dockers_words(rootfs):
    with pytest.raises(InvalidParameter) as e:
        resolve_user(rootfs, "xyz")
    assert str(e.value) == "unable to find user xyz: no matching entries in passwd file"


def test_unknown_group_uses_dockers_words(rootfs):
    with pytest.raises(InvalidParameter) as e:
        resolve_user(rootfs, "app:nosuch")
    assert str(e.value) == "unable to find group nosuch: no matching entries in group file"


def test_out_of_range_ids(rootfs):
    with pytest.raises(InvalidParameter, match="uids and gids must be in range 0-2147483647"):
        resolve_user(rootfs, "4294967296")
    with pytest.raises(InvalidParameter, match="must be in range"):
        resolve_user(rootfs, "app:-1")


def test_missing_files(tmp_path):
    assert resolve_user(str(tmp_path), "") == (0, 0, [])
    assert resolve_user(str(tmp_path), "123:456") == (123, 456, [])
    with pytest.raises(InvalidParameter, match="unable to find user app"):
        resolve_user(str(tmp_path), "app")


def test_symlinks_stay_inside_the_rootfs(tmp_path):
    # /etc/passwd -> /shared/passwd is resolved inside the rootfs, not on the host
    host = tmp_path / "host"
    host.mkdir()
    (host / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "shared" / "passwd").write_text("inside:x:77:88::/:/bin/sh\n")
    os.symlink("/shared/passwd", root / "etc" / "passwd")
    assert resolve_user(str(root), "inside") == (77, 88, [])

    # a link climbing out with .. and a link to an absolute host path both stay in root
    os.remove(root / "etc" / "passwd")
    os.symlink("../../../../../../" + str(host / "passwd"), root / "etc" / "passwd")
    with pytest.raises(InvalidParameter):
        resolve_user(str(root), "evil")
    os.remove(root / "etc" / "passwd")
    os.symlink(str(host / "passwd"), root / "etc" / "passwd")
    with pytest.raises(InvalidParameter):
        resolve_user(str(root), "evil")

    # /etc itself a symlink to a host directory
    os.remove(root / "etc" / "passwd")
    os.rmdir(root / "etc")
    os.symlink(str(host), root / "etc")
    with pytest.raises(InvalidParameter):
        resolve_user(str(root), "evil")


def test_symlink_loop_does_not_hang(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("passwd", tmp_path / "etc" / "passwd")
    assert resolve_user(str(tmp_path), "") == (0, 0, [])


def test_odd_lines_are_tolerated(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("\n  \nshort\nodd:x:notanumber:5\n")
    assert resolve_user(str(tmp_path), "odd") == (0, 5, [])


def test_group_add(rootfs):
    assert group_ids(rootfs, ["audio", "50", "4000", "audio"]) == [29, 50, 4000]
    assert group_ids(rootfs, []) == []
    with pytest.raises(InvalidParameter) as e:
        group_ids(rootfs, ["video"])
    assert str(e.value) == "unable to find group video: no matching entries in group file"


def test_busybox_rootfs(busybox_rootfs):
    assert resolve_user(busybox_rootfs, "nobody") == (65534, 65534, [])
    assert resolve_user(busybox_rootfs, "daemon:nogroup") == (1, 65534, [])
