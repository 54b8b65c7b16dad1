"""docker cp (both directions, path traversal refused), export, diff, and volumes."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dockyard.errors import InvalidParameter, NotFound


def make_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def untar(chunks):
    tar = tarfile.open(fileobj=io.BytesIO(b"".join(chunks)))
    return {m.name: (tar.extractfile(m).read() if m.isreg() else m.type) for m in tar}


def test_cp_in_and_out_of_running_and_stopped(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["sleep", "1000"]}, {})["Id"]
    # into a created (never started) container
    svc.archive_put(
        cid,
        "/tmp",
        make_tar(
            [("a.txt", b"alpha\n", "file"), ("sub", None, "dir"), ("sub/b.txt", b"beta\n", "file")]
        ),
    )
    svc.start(cid)
    eid = svc.exec_create(
        cid, {"Cmd": ["cat", "/tmp/a.txt", "/tmp/sub/b.txt"], "AttachStdout": True}
    )["Id"]
    assert b"".join(d for _, d in svc.exec_start(eid)) == b"alpha\nbeta\n"
    eid = svc.exec_create(cid, {"Cmd": ["sh", "-c", "echo made inside > /tmp/in.txt"]})["Id"]
    list(svc.exec_start(eid))
    info, chunks = svc.archive_get(cid, "/tmp/in.txt")
    assert info["name"] == "in.txt" and info["size"] == len(b"made inside\n")
    assert untar(chunks) == {"in.txt": b"made inside\n"}
    info, chunks = svc.archive_get(cid, "/tmp/sub")
    assert info["mode"] & (1 << 31)  # Go's ModeDir
    assert untar(chunks)["sub/b.txt"] == b"beta\n"
    assert svc.archive_head(cid, "/bin/sh")["linkTarget"] == "/bin/busybox"
    with pytest.raises(NotFound):
        svc.archive_head(cid, "/nope")
    svc.stop(cid, timeout=0)
    info, chunks = svc.archive_get(cid, "/tmp/a.txt")  # stopped: the rootfs is mounted for it
    assert untar(chunks) == {"a.txt": b"alpha\n"}
    changes = {c["Path"]: c["Kind"] for c in svc.changes(cid)}
    assert changes["/tmp/a.txt"] == 1 and changes["/tmp/in.txt"] == 1
    exported = untar(svc.export(cid))
    assert exported["tmp/in.txt"] == b"made inside\n" and "bin/busybox" in exported


def test_cp_path_traversal_refused(engine, tmp_path):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    outside = tmp_path / "outside"
    outside.mkdir()
    for evil in ("../../../../" + str(outside) + "/x", "/" + str(outside) + "/y"):
        with pytest.raises(InvalidParameter):
            svc.archive_put(cid, "/tmp", make_tar([(evil, b"pwned", "file")]))
    # a symlink in the container pointing out of it resolves inside the container
    svc.archive_put(cid, "/", make_tar([("escape", str(outside), "sym")]))
    with pytest.raises(NotFound):  # the link's target does not exist in the container
        svc.archive_put(cid, "/escape", make_tar([("z.txt", b"contained", "file")]))
    parts = str(outside).strip("/").split("/")
    svc.archive_put(
        cid, "/", make_tar([("/".join(parts[: i + 1]), None, "dir") for i in range(len(parts))])
    )
    svc.archive_put(cid, "/escape", make_tar([("z.txt", b"contained", "file")]))
    assert os.listdir(outside) == []
    info, chunks = svc.archive_get(cid, "/escape/z.txt")
    assert untar(chunks) == {"z.txt": b"contained"}
    # reading through ../ stays in the container too
    info, chunks = svc.archive_get(cid, "/../../../etc/passwd")
    passwd = untar(chunks)["passwd"]
    assert passwd.startswith(b"root:x:0:0") and b"nobody" in passwd and info["size"] < 1000


def test_volumes_named_anonymous_and_bind(engine, tmp_path):
    svc = engine.containers
    host = tmp_path / "host"
    host.mkdir()
    (host / "h.txt").write_text("from host\n")
    cid = svc.create(
        None,
        {
            "Image": "busybox",
            "Cmd": [
                "sh",
                "-c",
                "cat /h/h.txt; ls /etcvol | head -1; echo data > /d/f; echo anon > /anon/f",
            ],
            "Volumes": {"/anon": {}},
        },
        {"Binds": [f"{host}:/h:ro", "dyvoltest:/d", "etcvol:/etcvol"]},
    )["Id"]
    svc.start(cid)
    assert svc.wait(cid)["StatusCode"] == 0
    out = [d for _, d in svc.logs(cid)]
    assert out[0] == b"from host\n"
    mounts = {m["Destination"]: m for m in svc.inspect(cid)["Mounts"]}
    assert mounts["/h"]["Type"] == "bind" and mounts["/h"]["RW"] is False
    assert mounts["/d"]["Type"] == "volume" and mounts["/d"]["Name"] == "dyvoltest"
    assert mounts["/d"]["Driver"] == "local"
    anon = mounts["/anon"]["Name"]
    assert len(anon) == 64
    # the named volume persists into the next container
    cid2 = svc.create(
        None, {"Image": "busybox", "Cmd": ["cat", "/d/f"]}, {"Binds": ["dyvoltest:/d"]}
    )["Id"]
    svc.start(cid2)
    svc.wait(cid2)
    assert [d for _, d in svc.logs(cid2)] == [b"data\n"]
    # docker cp into a volume path lands in the volume
    svc.archive_put(cid2, "/d", make_tar([("cp.txt", b"via cp", "file")]))
    assert (
        open(os.path.join(engine.volumes.inspect("dyvoltest")["Mountpoint"], "cp.txt")).read()
        == "via cp"
    )
    svc.remove(cid, volumes=True)
    assert not engine.volumes.exists(anon)  # anonymous: removed with -v
    assert engine.volumes.exists("dyvoltest")  # named: kept
    svc.remove(cid2)
    engine.volumes.remove("dyvoltest")
    engine.volumes.remove("etcvol")


def test_named_volume_copied_up_from_image(engine):
    svc = engine.containers
    cid = svc.create(None, {"Image": "busybox", "Cmd": ["ls", "/etc"]}, {"Binds": ["dyetc:/etc"]})[
        "Id"
    ]
    svc.start(cid)
    svc.wait(cid)
    names = b"".join(d for _, d in svc.logs(cid)).split()
    assert b"passwd" in names and b"group" in names
    svc.remove(cid)
    engine.volumes.remove("dyetc")


def test_diff_hides_init_layer_files(engine):
    svc = engine.containers
    cid = svc.create(
        None, {"Image": "busybox", "Cmd": ["sh", "-c", "echo x > /tmp/new; rm /etc/group"]}, {}
    )["Id"]
    svc.start(cid)
    svc.wait(cid)
    changes = {c["Path"]: c["Kind"] for c in svc.changes(cid)}
    assert changes == {"/tmp": 0, "/tmp/new": 1, "/etc": 0, "/etc/group": 2}
    quiet = svc.create(None, {"Image": "busybox", "Cmd": ["true"]}, {})["Id"]
    svc.start(quiet)
    svc.wait(quiet)
    assert svc.changes(quiet) == []
