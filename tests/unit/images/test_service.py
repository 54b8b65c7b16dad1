"""The image service: import, inspect/list/history shapes, tag and rmi semantics, prune."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time

import pytest

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.images import manifest as mf
from dockyard.images.reference import parse_reference
from dockyard.images.service import ImageService

INSPECT_KEYS = {
    "Id",
    "RepoTags",
    "RepoDigests",
    "Parent",
    "Comment",
    "Created",
    "DockerVersion",
    "Author",
    "Config",
    "Architecture",
    "Os",
    "Size",
    "GraphDriver",
    "RootFS",
    "Metadata",
}


def small_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_and_inspect_shape(svc: ImageService, busybox_tar: bytes) -> None:
    image_id = svc.import_rootfs(
        io.BytesIO(busybox_tar),
        "busybox:latest",
        [
            'CMD ["sh"]',
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "EXPOSE 8080",
            "LABEL a=b",
            "WORKDIR /tmp",
            "USER nobody",
            "VOLUME /data",
            "STOPSIGNAL SIGTERM",
        ],
    )
    assert image_id.startswith("sha256:") and len(image_id) == 71
    data = svc.inspect("busybox")
    assert set(data) == INSPECT_KEYS
    assert data["Id"] == image_id
    assert data["RepoTags"] == ["busybox:latest"] and data["RepoDigests"] == []
    assert data["Comment"] == "Imported from -"
    assert data["RootFS"] == {
        "Type": "layers",
        "Layers": ["sha256:" + hashlib.sha256(busybox_tar).hexdigest()],
    }
    cfg = data["Config"]
    assert cfg["Cmd"] == ["sh"] and cfg["Env"] == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    assert cfg["ExposedPorts"] == {"8080/tcp": {}} and cfg["Labels"] == {"a": "b"}
    assert cfg["WorkingDir"] == "/tmp" and cfg["User"] == "nobody"
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGTERM"
    assert cfg["Entrypoint"] is None and cfg["Hostname"] == ""
    assert data["Os"] == "linux" and data["Architecture"]
    assert data["Size"] >= os.path.getsize("/bin/busybox")
    assert data["GraphDriver"]["Name"] == "overlay2"
    upper = data["GraphDriver"]["Data"]["UpperDir"]
    assert os.path.isfile(os.path.join(upper, "bin/busybox"))
    assert data["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    img = svc.get(image_id)
    assert img.chain_id == data["RootFS"]["Layers"][0] and img.config["config"]["Cmd"] == ["sh"]


def test_lookup_forms_and_not_found(svc: ImageService) -> None:
    image_id = svc.import_rootfs(io.BytesIO(small_tar({"a": b"1"})), "example.com/x/y:v1")
    for name in (image_id, image_id[7:], image_id[7:19], image_id[:19], "example.com/x/y:v1"):
        assert svc.get(name).id == image_id
    with pytest.raises(NotFound, match=r"^No such image: busybox:latest$"):
        svc.get("busybox")
    with pytest.raises(NotFound, match=r"^No such image: example.com/x/y:v2$"):
        svc.get("example.com/x/y:v2")
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        svc.get("Bad:Name:x")


def test_shell_form_changes_and_healthcheck(svc: ImageService) -> None:
    image_id = svc.import_rootfs(
        io.BytesIO(small_tar({"a": b"1"})),
        None,
        [
            "CMD echo hi",
            "ENTRYPOINT /bin/sh -c",
            "ENV A=1 B=2",
            "HEALTHCHECK --interval=5s --retries=2 CMD true",
            "ONBUILD RUN echo x",
        ],
        message="my import",
    )
    cfg = svc.get(image_id).config
    assert cfg["comment"] == "my import"
    c = cfg["config"]
    assert c["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c"]
    assert c["Env"] == ["A=1", "B=2"]
    assert c["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert c["Healthcheck"]["Interval"] == 5_000_000_000 and c["Healthcheck"]["Retries"] == 2
    assert c["OnBuild"] == ["RUN echo x"]
    with pytest.raises(InvalidParameter, match="run is not a valid change command"):
        svc.import_rootfs(io.BytesIO(small_tar({"a": b"1"})), None, ["RUN true"])


def test_tag_list_filters_and_history(svc: ImageService) -> None:
    a = svc.import_rootfs(io.BytesIO(small_tar({"a": b"1"})), "app:1", ["LABEL tier=web"])
    time.sleep(1.05)  # Created is compared in seconds
    b = svc.import_rootfs(io.BytesIO(small_tar({"b": b"2"})), None)
    svc.tag("app:1", "localhost:5000/app", "prod")
    assert svc.get("localhost:5000/app:prod").id == a
    with pytest.raises(InvalidParameter):
        svc.tag("app:1", "app@sha256:" + "a" * 64)
    listed = {e["Id"]: e for e in svc.list()}
    assert set(listed) == {a, b}
    assert listed[a]["RepoTags"] == ["app:1", "localhost:5000/app:prod"]
    assert set(listed[a]) == {
        "Containers",
        "Created",
        "Id",
        "Labels",
        "ParentId",
        "RepoDigests",
        "RepoTags",
        "SharedSize",
        "Size",
    }
    assert isinstance(listed[a]["Created"], int) and listed[a]["Labels"] == {"tier": "web"}
    assert [e["Id"] for e in svc.list(filters={"dangling": ["true"]})] == [b]
    assert [e["Id"] for e in svc.list(filters={"dangling": ["false"]})] == [a]
    assert [e["Id"] for e in svc.list(filters={"label": ["tier=web"]})] == [a]
    assert svc.list(filters={"label": ["tier=db"]}) == []
    ref = svc.list(filters={"reference": ["localhost:5000/*"]})
    assert [e["RepoTags"] for e in ref] == [["localhost:5000/app:prod"]]
    assert [e["Id"] for e in svc.list(filters={"reference": ["app"]})] == [a]
    assert [e["Id"] for e in svc.list(filters={"since": ["app:1"]})] == [b]
    assert [e["Id"] for e in svc.list(filters={"before": [b]})] == [a]
    with pytest.raises(InvalidParameter, match="invalid filter 'nope'"):
        svc.list(filters={"nope": ["x"]})
    hist = svc.history("app:1")
    assert len(hist) == 1 and hist[0]["Id"] == a
    assert hist[0]["Tags"] == ["app:1", "localhost:5000/app:prod"]
    assert hist[0]["Comment"] == "Imported from -" and hist[0]["Size"] == 1


def test_rmi_untag_delete_and_conflicts(svc: ImageService) -> None:
    image_id = svc.import_rootfs(io.BytesIO(small_tar({"a": b"1"})), "one:latest")
    svc.tag(image_id, "two")
    short = image_id[7:19]
    with pytest.raises(Conflict) as info:
        svc.remove(short)
    assert str(info.value) == (
        f"conflict: unable to delete {short} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    assert svc.remove("two") == [{"Untagged": "two:latest"}]
    cid = svc.get("one").chain_id
    used = [("c" * 64, False)]
    with pytest.raises(Conflict) as info:
        svc.remove("one", in_use=lambda i: used if i == image_id else [])
    assert str(info.value) == (
        'conflict: unable to remove repository reference "one" (must force) - container '
        f"cccccccccccc is using its referenced image {short}"
    )
    with pytest.raises(Conflict, match="being used by stopped container cccccccccccc"):
        svc.remove(image_id, in_use=lambda i: used)
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image is being used by running"):
        svc.remove(image_id, force=True, in_use=lambda i: [("d" * 64, True)])
    # forced: a stopped container does not keep the image (Docker deletes it too)
    assert svc.remove("one", force=True, in_use=lambda i: used) == [
        {"Untagged": "one:latest"},
        {"Deleted": image_id},
        {"Deleted": cid},
    ]
    assert not svc.exists(image_id)
    assert not svc.snapshots.exists(cid)


def test_rmi_keeps_shared_layers_and_prune(svc: ImageService) -> None:
    base = svc.store_layer(io.BytesIO(small_tar({"base": b"b"})))
    top = svc.store_layer(io.BytesIO(small_tar({"top": b"t"})))
    cfg = {"architecture": "amd64", "os": "linux", "config": {}, "created": "2024-01-01T00:00:00Z"}
    one = svc.create_image(dict(cfg, comment="1"), [base], tag=parse_reference("base:1"))
    two = svc.create_image(dict(cfg, comment="2"), [base, top], tag="top:1")
    assert two.chain_ids[0] == one.chain_id
    assert len([i for i in svc.snapshots.walk()]) == 2  # the base layer is shared
    lowers = svc.snapshots.lower_dirs(two.chain_id)
    assert lowers == [svc.snapshots.upper_dir(one.chain_id)]
    records = svc.remove("base:1")
    assert records == [{"Untagged": "base:1"}, {"Deleted": one.id}]
    assert svc.snapshots.exists(one.chain_id)  # still used by top:1
    svc.remove("top:1")
    assert list(svc.snapshots.walk()) == []
    # prune: only dangling images, not those a container uses
    d1 = svc.import_rootfs(io.BytesIO(small_tar({"x": b"1"})), None)
    d2 = svc.import_rootfs(io.BytesIO(small_tar({"y": b"2"})), None)
    keep = svc.import_rootfs(io.BytesIO(small_tar({"z": b"3"})), "keep:1")
    res = svc.prune(in_use=lambda i: i == d2)
    assert {r["Deleted"] for r in res["ImagesDeleted"] if r["Deleted"].startswith("sha256")} >= {d1}
    assert d2 not in {r.get("Deleted") for r in res["ImagesDeleted"]}
    assert res["SpaceReclaimed"] > 0
    assert svc.exists(d2) and svc.exists(keep) and not svc.exists(d1)
    res = svc.prune(dangling_only=False)
    assert not svc.exists(keep) and not svc.exists(d2)


def _push_layer_gz(svc: ImageService, tar: bytes) -> tuple[str, int]:
    gz = gzip.compress(tar, mtime=0)
    return svc.content.put(gz), len(gz)


def _pulled(
    svc: ImageService, tars: list[bytes], oci: bool = False, diff_ids: list[str] | None = None
) -> str:
    layers = []
    for t in tars:
        digest, size = _push_layer_gz(svc, t)
        layers.append(
            {
                "mediaType": mf.OCI_LAYER_GZIP if oci else mf.DOCKER_LAYER_GZIP,
                "digest": digest,
                "size": size,
            }
        )
    diff_ids = diff_ids or ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    raw = json.dumps(config).encode()
    cdigest = svc.content.put(raw)
    manifest = {
        "schemaVersion": 2,
        "config": {
            "mediaType": mf.OCI_CONFIG if oci else mf.DOCKER_CONFIG,
            "digest": cdigest,
            "size": len(raw),
        },
        "layers": layers,
    }
    if not oci:
        manifest["mediaType"] = mf.DOCKER_MANIFEST
    return svc.content.put(json.dumps(manifest).encode())


def test_register_tags_records_digest_and_push_reuses(svc: ImageService) -> None:
    tars = [small_tar({"a": b"1"}), small_tar({"b": b"2"})]
    mdigest = _pulled(svc, tars, oci=True)
    ref = parse_reference("127.0.0.1:5000/test/busybox:1")
    seen = []
    img = svc.register(mdigest, ref, progress=lambda d, s: seen.append(s))
    assert sorted(seen) == sorted(["Extracting", "Pull complete"] * 2)
    assert img.repo_tags == ["127.0.0.1:5000/test/busybox:1"]
    assert img.repo_digests == [f"127.0.0.1:5000/test/busybox@{mdigest}"]
    assert svc.get(f"127.0.0.1:5000/test/busybox@{mdigest}").id == img.id
    assert img.size == 2
    digest, raw, mt = svc.push_manifest(img.id)
    assert (digest, mt) == (mdigest, mf.OCI_MANIFEST) and raw == svc.content.read(mdigest)
    # pulled again under another name: layers already there
    seen.clear()
    svc.register(mdigest, parse_reference("other:1"), progress=lambda d, s: seen.append(s))
    assert seen == ["Already exists"] * 2


def test_register_diff_id_mismatch_records_nothing(svc: ImageService) -> None:
    tars = [small_tar({"a": b"1"}), small_tar({"b": b"2"})]
    good = "sha256:" + hashlib.sha256(tars[0]).hexdigest()
    mdigest = _pulled(svc, tars, diff_ids=[good, "sha256:" + "0" * 64])
    with pytest.raises(InvalidParameter, match="diff_id mismatch"):
        svc.register(mdigest, parse_reference("bad:1"))
    assert svc.images() == [] and list(svc.snapshots.walk()) == []
    with pytest.raises(NotFound):
        svc.get("bad:1")


def test_push_manifest_makes_schema2_with_gzip_layers(svc: ImageService) -> None:
    tar = small_tar({"a": b"hello"})
    image_id = svc.import_rootfs(io.BytesIO(tar), "x:1")
    digest, raw, mt = svc.push_manifest(image_id)
    assert mt == mf.DOCKER_MANIFEST
    doc = json.loads(raw)
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == mf.DOCKER_MANIFEST
    assert doc["config"] == {
        "mediaType": mf.DOCKER_CONFIG,
        "digest": image_id,
        "size": svc.content.size(image_id),
    }
    (layer,) = doc["layers"]
    assert layer["mediaType"] == mf.DOCKER_LAYER_GZIP
    assert gzip.decompress(svc.content.read(layer["digest"])) == tar
    assert svc.content.read(digest) == raw
    assert svc.push_manifest(image_id)[0] == digest  # deterministic, blobs reused


def test_add_layer_from_a_diff_and_history(svc: ImageService) -> None:
    from dockyard.snapshots import diff

    base_id = svc.import_rootfs(io.BytesIO(small_tar({"etc/os": b"base"})), "base:1")
    base = svc.get(base_id)
    key = "container-1"
    svc.snapshots.prepare(key, base.chain_id)
    upper = svc.snapshots.upper_dir(key)
    with open(os.path.join(upper, "new"), "w") as f:
        f.write("n")
    config = dict(base.config, config={"Cmd": ["true"]})
    entry = {"created": "2025-01-01T00:00:00Z", "created_by": "commit"}
    img = svc.add_layer(
        base, diff(svc.snapshots.lower_dirs(key), upper), config, history=entry, tag="committed:1"
    )
    assert img.parent == base_id and img.diff_ids[0] == base.diff_ids[0] and len(img.diff_ids) == 2
    assert svc.snapshots.stat(img.chain_id).parent == base.chain_id
    with open(os.path.join(svc.snapshots.upper_dir(img.chain_id), "new")) as f:
        assert f.read() == "n"
    hist = svc.history("committed:1")
    assert [h["CreatedBy"] for h in hist] == ["commit", ""]
    assert hist[0]["Id"] == img.id and hist[1]["Id"] == "<missing>"
    assert [e["ParentId"] for e in svc.list(filters={"reference": ["committed"]})] == [base_id]
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        svc.remove(base_id, force=True)
    svc.snapshots.remove(key)


def test_tag_and_digest_lookup_and_reconcile(svc: ImageService) -> None:
    mdigest = _pulled(svc, [small_tar({"a": b"1"})])
    img = svc.register(mdigest, parse_reference("reg.example.com/x:1"))
    assert svc.get(f"reg.example.com/x:other@{mdigest}").id == img.id
    # a crash mid-unpack leaves an active extract snapshot; a record lost its config
    svc.snapshots.prepare("extract-deadbeef sha256:" + "1" * 64, img.chain_id)
    svc.store.put_record({"id": "sha256:" + "2" * 64})
    svc.store.set_ref(parse_reference("ghost:1"), "sha256:" + "3" * 64)
    removed = svc.reconcile()
    assert "extract-deadbeef sha256:" + "1" * 64 in removed
    assert "sha256:" + "2" * 64 in removed and "docker.io/library/ghost:1" in removed
    assert [i.name for i in svc.snapshots.walk()] == [img.chain_id]
    assert svc.reconcile() == []


def test_rmi_prunes_untagged_parents_unless_noprune(svc: ImageService) -> None:
    cfg = {"architecture": "amd64", "os": "linux", "config": {}}
    layer = svc.store_layer(io.BytesIO(small_tar({"a": b"1"})))
    grand = svc.create_image(dict(cfg, comment="g"), [layer])
    mid = svc.create_image(dict(cfg, comment="m"), [layer], parent=grand.id)
    top = svc.create_image(dict(cfg, comment="t"), [layer], parent=mid.id, tag="top:1")
    assert [e["Id"] for e in svc.list()] == [top.id]  # intermediates hidden
    assert {e["Id"] for e in svc.list(all=True)} == {top.id, mid.id, grand.id}
    deleted = [r.get("Deleted") for r in svc.remove("top:1", noprune=True)]
    assert deleted == [None, top.id] and svc.exists(mid.id)
    top = svc.create_image(dict(cfg, comment="t2"), [layer], parent=mid.id, tag="top:1")
    records = svc.remove("top:1")
    assert [r.get("Deleted") for r in records if "Deleted" in r] == [
        top.id,
        mid.id,
        grand.id,
        layer.diff_id,
    ]


def test_import_compressed_and_unused_layers(svc: ImageService) -> None:
    import bz2
    import lzma

    tar = small_tar({"a": b"1"})
    want = "sha256:" + hashlib.sha256(tar).hexdigest()
    for data in (gzip.compress(tar), bz2.compress(tar), lzma.compress(tar)):
        assert svc.get(svc.import_rootfs(io.BytesIO(data), None)).diff_ids == [want]
    # layers unpacked but never recorded (a crash before the image record) are collected
    other = svc.store_layer(io.BytesIO(small_tar({"b": b"2"})))
    top = svc.store_layer(io.BytesIO(small_tar({"c": b"3"})))
    cids = svc.ensure_layers([other, top])
    assert svc.reconcile() == []
    assert sorted(svc.reconcile(remove_unused_layers=True)) == sorted(cids)
    assert [i.name for i in svc.snapshots.walk()] == [want]


def test_register_hostile_layer_records_nothing(svc: ImageService, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("evil")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../../../../../" + str(outside)
        tar.addfile(link)
        f = tarfile.TarInfo("evil/secret")
        f.size = 5
        tar.addfile(f, io.BytesIO(b"pwned"))
    mdigest = _pulled(svc, [buf.getvalue()])
    with pytest.raises(InvalidParameter):
        svc.register(mdigest, parse_reference("evil:1"))
    assert (outside / "secret").read_text() == "keep" and os.listdir(outside) == ["secret"]
    assert svc.images() == [] and list(svc.snapshots.walk()) == []
