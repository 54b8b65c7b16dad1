"""The registry server against the OCI distribution spec, through aiohttp's test client."""

from __future__ import annotations

import base64
import json

from distribution_helpers import digest, image_manifest, run_with_client, upload_blob

from dockyard.distribution import mediatypes
from dockyard.distribution.htpasswd import make_entry

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


async def _errors(r) -> list[str]:
    body = await r.json()
    return [e["code"] for e in body["errors"]]


def test_base_endpoint(tmp_path):
    async def scenario(c):
        r = await c.get("/v2/")
        assert r.status == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert await r.json() == {}

    run_with_client(str(tmp_path), scenario)


def test_monolithic_blob_get_head_range_delete(tmp_path):
    data = bytes(range(256)) * 40

    async def scenario(c):
        d = await upload_blob(c, "lib/thing", data)
        r = await c.head(f"/v2/lib/thing/blobs/{d}")
        assert r.status == 200
        assert int(r.headers["Content-Length"]) == len(data)
        assert r.headers["Docker-Content-Digest"] == d
        r = await c.get(f"/v2/lib/thing/blobs/{d}")
        assert await r.read() == data
        r = await c.get(f"/v2/lib/thing/blobs/{d}", headers={"Range": "bytes=10-19"})
        assert r.status == 206
        assert await r.read() == data[10:20]
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        r = await c.get(f"/v2/lib/thing/blobs/{d}", headers={"Range": "bytes=10000-"})
        assert r.status == 206 and await r.read() == data[10000:]
        # not linked into another repository
        r = await c.get(f"/v2/other/blobs/{d}")
        assert r.status == 404 and await _errors(r) == ["BLOB_UNKNOWN"]
        r = await c.delete(f"/v2/lib/thing/blobs/{d}")
        assert r.status == 202
        r = await c.head(f"/v2/lib/thing/blobs/{d}")
        assert r.status == 404
        r = await c.delete(f"/v2/lib/thing/blobs/{d}")
        assert r.status == 404 and await _errors(r) == ["BLOB_UNKNOWN"]

    run_with_client(str(tmp_path), scenario)


def test_monolithic_wrong_digest_is_refused_and_stores_nothing(tmp_path):
    async def scenario(c):
        wrong = digest(b"something else")
        r = await c.post(f"/v2/a/blobs/uploads/?digest={wrong}", data=b"payload")
        assert r.status == 400 and await _errors(r) == ["DIGEST_INVALID"]
        r = await c.head(f"/v2/a/blobs/{wrong}")
        assert r.status == 404
        r = await c.head(f"/v2/a/blobs/{digest(b'payload')}")
        assert r.status == 404

    run_with_client(str(tmp_path), scenario)
    assert list((tmp_path / "uploads").iterdir()) == []


def test_chunked_upload_with_status_and_content_range(tmp_path):
    data = b"0123456789" * 1000

    async def scenario(c):
        r = await c.post("/v2/ns/repo/blobs/uploads/")
        assert r.status == 202
        location = r.headers["Location"]
        assert r.headers["Range"] == "0-0"
        uuid = r.headers["Docker-Upload-UUID"]
        assert location.endswith(uuid)
        r = await c.patch(
            location,
            data=data[:4000],
            headers={"Content-Range": "0-3999", "Content-Type": "application/octet-stream"},
        )
        assert r.status == 202, await r.text()
        assert r.headers["Range"] == "0-3999"
        location = r.headers["Location"]
        # out-of-order chunk: 416 and the current range
        r = await c.patch(location, data=data[5000:6000], headers={"Content-Range": "5000-5999"})
        assert r.status == 416
        assert r.headers["Range"] == "0-3999"
        r = await c.get(location)
        assert r.status == 204 and r.headers["Range"] == "0-3999"
        # a chunk without Content-Range (streamed, as Docker does)
        r = await c.patch(location, data=data[4000:9000])
        assert r.status == 202 and r.headers["Range"] == "0-8999"
        # final chunk in the PUT
        r = await c.put(
            f"{location}?digest={digest(data)}",
            data=data[9000:],
            headers={"Content-Range": "9000-9999"},
        )
        assert r.status == 201, await r.text()
        assert r.headers["Docker-Content-Digest"] == digest(data)
        assert r.headers["Location"] == f"/v2/ns/repo/blobs/{digest(data)}"
        r = await c.get(f"/v2/ns/repo/blobs/{digest(data)}")
        assert await r.read() == data
        # the session is gone
        r = await c.get(location)
        assert r.status == 404 and await _errors(r) == ["BLOB_UPLOAD_UNKNOWN"]

    run_with_client(str(tmp_path), scenario)


def test_upload_put_without_digest_and_with_wrong_digest(tmp_path):
    async def scenario(c):
        r = await c.post("/v2/x/blobs/uploads/")
        location = r.headers["Location"]
        r = await c.patch(location, data=b"abc")
        r = await c.put(location)
        assert r.status == 400 and await _errors(r) == ["DIGEST_INVALID"]
        r = await c.put(f"{location}?digest={digest(b'abd')}")
        assert r.status == 400 and await _errors(r) == ["DIGEST_INVALID"]
        r = await c.head(f"/v2/x/blobs/{digest(b'abc')}")
        assert r.status == 404

    run_with_client(str(tmp_path), scenario)


def test_upload_cancel_and_unknown(tmp_path):
    async def scenario(c):
        r = await c.post("/v2/x/blobs/uploads/")
        location = r.headers["Location"]
        r = await c.delete(location)
        assert r.status == 204
        r = await c.patch(location, data=b"x")
        assert r.status == 404 and await _errors(r) == ["BLOB_UPLOAD_UNKNOWN"]
        r = await c.get("/v2/x/blobs/uploads/" + "0" * 32)
        assert r.status == 404
        # an upload of one repository is not visible through another
        r = await c.post("/v2/x/blobs/uploads/")
        other = r.headers["Location"].replace("/v2/x/", "/v2/y/")
        r = await c.get(other)
        assert r.status == 404

    run_with_client(str(tmp_path), scenario)


def test_cross_repository_mount(tmp_path):
    data = b"shared layer"

    async def scenario(c):
        d = await upload_blob(c, "src/repo", data)
        r = await c.post(f"/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo")
        assert r.status == 201
        assert r.headers["Location"] == f"/v2/dst/repo/blobs/{d}"
        assert r.headers["Docker-Content-Digest"] == d
        r = await c.get(f"/v2/dst/repo/blobs/{d}")
        assert await r.read() == data
        # mount from a repository without the blob: falls back to an upload session
        missing = digest(b"nope")
        r = await c.post(f"/v2/dst/repo/blobs/uploads/?mount={missing}&from=src/repo")
        assert r.status == 202 and "Docker-Upload-UUID" in r.headers

    run_with_client(str(tmp_path), scenario)


def _push_image(media_type: str, tag: str = "v1", name: str = "lib/img"):
    async def push(c) -> tuple[str, bytes]:
        layer = b"layer-bytes-" + media_type.encode()
        await upload_blob(c, name, CONFIG)
        await upload_blob(c, name, layer)
        body = image_manifest(CONFIG, [layer], media_type)
        r = await c.put(
            f"/v2/{name}/manifests/{tag}", data=body, headers={"Content-Type": media_type}
        )
        assert r.status == 201, await r.text()
        assert r.headers["Docker-Content-Digest"] == digest(body)
        assert r.headers["Location"] == f"/v2/{name}/manifests/{digest(body)}"
        return digest(body), body

    return push


def test_manifest_put_get_head_by_tag_and_digest(tmp_path):
    async def scenario(c):
        for media_type in (mediatypes.DOCKER_MANIFEST, mediatypes.OCI_MANIFEST):
            d, body = await _push_image(media_type)(c)
            for ref in ("v1", d):
                r = await c.get(f"/v2/lib/img/manifests/{ref}", headers={"Accept": media_type})
                assert r.status == 200
                assert await r.read() == body
                assert r.headers["Content-Type"] == media_type
                assert r.headers["Docker-Content-Digest"] == d
                r = await c.head(f"/v2/lib/img/manifests/{ref}")
                assert r.status == 200
                assert int(r.headers["Content-Length"]) == len(body)
                assert r.headers["Docker-Content-Digest"] == d
        r = await c.get("/v2/lib/img/manifests/nope")
        assert r.status == 404 and await _errors(r) == ["MANIFEST_UNKNOWN"]
        r = await c.get("/v2/unknown/img/manifests/latest")
        assert r.status == 404 and await _errors(r) == ["NAME_UNKNOWN"]
        r = await c.get(f"/v2/lib/img/manifests/{digest(b'x')}")
        assert r.status == 404 and await _errors(r) == ["MANIFEST_UNKNOWN"]

    run_with_client(str(tmp_path), scenario)


def test_manifest_put_needs_its_blobs(tmp_path):
    async def scenario(c):
        await upload_blob(c, "a", CONFIG)
        body = image_manifest(CONFIG, [b"never uploaded"], mediatypes.OCI_MANIFEST)
        r = await c.put(
            "/v2/a/manifests/t", data=body, headers={"Content-Type": mediatypes.OCI_MANIFEST}
        )
        assert r.status == 400
        errors = (await r.json())["errors"]
        assert errors[0]["code"] == "MANIFEST_BLOB_UNKNOWN"
        assert errors[0]["detail"]["digest"] == digest(b"never uploaded")
        r = await c.put(
            "/v2/a/manifests/t", data=b"not json", headers={"Content-Type": mediatypes.OCI_MANIFEST}
        )
        assert r.status == 400 and await _errors(r) == ["MANIFEST_INVALID"]
        # by digest: the digest must match the body
        good = image_manifest(CONFIG, [], mediatypes.OCI_MANIFEST)
        r = await c.put(
            f"/v2/a/manifests/{digest(b'other')}",
            data=good,
            headers={"Content-Type": mediatypes.OCI_MANIFEST},
        )
        assert r.status == 400 and await _errors(r) == ["DIGEST_INVALID"]
        r = await c.put(
            f"/v2/a/manifests/{digest(good)}",
            data=good,
            headers={"Content-Type": mediatypes.OCI_MANIFEST},
        )
        assert r.status == 201

    run_with_client(str(tmp_path), scenario)


def _index(entries: list[tuple[str, bytes, str, str]], media_type: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {
                    "mediaType": mt,
                    "digest": digest(b),
                    "size": len(b),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for mt, b, arch, _ in entries
            ],
        }
    ).encode()


def test_index_content_negotiation(tmp_path):
    async def scenario(c):
        amd, amd_body = await _push_image(mediatypes.DOCKER_MANIFEST, "amd")(c)
        arm, arm_body = await _push_image(mediatypes.OCI_MANIFEST, "arm")(c)
        index = _index(
            [
                (mediatypes.DOCKER_MANIFEST, amd_body, "amd64", ""),
                (mediatypes.OCI_MANIFEST, arm_body, "arm64", ""),
            ],
            mediatypes.DOCKER_MANIFEST_LIST,
        )
        r = await c.put(
            "/v2/lib/img/manifests/multi",
            data=index,
            headers={"Content-Type": mediatypes.DOCKER_MANIFEST_LIST},
        )
        assert r.status == 201, await r.text()
        r = await c.get("/v2/lib/img/manifests/multi", headers={"Accept": mediatypes.ACCEPT})
        assert r.headers["Content-Type"] == mediatypes.DOCKER_MANIFEST_LIST
        assert await r.read() == index
        # a client that accepts only image manifests gets linux/amd64
        r = await c.get(
            "/v2/lib/img/manifests/multi", headers={"Accept": mediatypes.DOCKER_MANIFEST}
        )
        assert r.status == 200
        assert r.headers["Docker-Content-Digest"] == amd
        assert await r.read() == amd_body
        # by digest: the exact bytes, whatever the Accept header says
        r = await c.get(
            f"/v2/lib/img/manifests/{digest(index)}",
            headers={"Accept": mediatypes.DOCKER_MANIFEST},
        )
        assert r.status == 200 and await r.read() == index
        # an OCI manifest to a client that does not accept OCI
        r = await c.get("/v2/lib/img/manifests/arm", headers={"Accept": mediatypes.DOCKER_MANIFEST})
        assert r.status == 404 and await _errors(r) == ["MANIFEST_UNKNOWN"]
        # an index whose entries are not in the repository
        bad = _index([(mediatypes.OCI_MANIFEST, b"{}", "amd64", "")], mediatypes.OCI_INDEX)
        r = await c.put(
            "/v2/lib/img/manifests/bad", data=bad, headers={"Content-Type": mediatypes.OCI_INDEX}
        )
        assert r.status == 400 and await _errors(r) == ["MANIFEST_BLOB_UNKNOWN"]
        assert arm

    run_with_client(str(tmp_path), scenario)


def test_manifest_delete_by_digest_and_tag(tmp_path):
    async def scenario(c):
        d, _ = await _push_image(mediatypes.OCI_MANIFEST, "one")(c)
        r = await c.put(
            "/v2/lib/img/manifests/two",
            data=image_manifest(
                CONFIG,
                [b"layer-bytes-" + mediatypes.OCI_MANIFEST.encode()],
                mediatypes.OCI_MANIFEST,
            ),
            headers={"Content-Type": mediatypes.OCI_MANIFEST},
        )
        assert r.status == 201
        r = await c.delete("/v2/lib/img/manifests/two")
        assert r.status == 202
        r = await c.get("/v2/lib/img/tags/list")
        assert (await r.json())["tags"] == ["one"]
        r = await c.delete(f"/v2/lib/img/manifests/{d}")
        assert r.status == 202
        r = await c.get(f"/v2/lib/img/manifests/{d}")
        assert r.status == 404
        r = await c.get("/v2/lib/img/tags/list")
        assert (await r.json())["tags"] == []
        r = await c.delete(f"/v2/lib/img/manifests/{d}")
        assert r.status == 404 and await _errors(r) == ["MANIFEST_UNKNOWN"]

    run_with_client(str(tmp_path), scenario)


def test_tags_and_catalog_pagination(tmp_path):
    async def scenario(c):
        for tag in ("c", "a", "b", "d"):
            await _push_image(mediatypes.OCI_MANIFEST, tag)(c)
        for name in ("zeta", "alpha/one"):
            await _push_image(mediatypes.OCI_MANIFEST, "x", name)(c)
        r = await c.get("/v2/lib/img/tags/list")
        assert await r.json() == {"name": "lib/img", "tags": ["a", "b", "c", "d"]}
        r = await c.get("/v2/lib/img/tags/list?n=2")
        assert (await r.json())["tags"] == ["a", "b"]
        assert r.headers["Link"] == '</v2/lib/img/tags/list?last=b&n=2>; rel="next"'
        r = await c.get("/v2/lib/img/tags/list?n=2&last=b")
        assert (await r.json())["tags"] == ["c", "d"]
        assert "Link" not in r.headers
        r = await c.get("/v2/lib/img/tags/list?n=-1")
        assert r.status == 400 and await _errors(r) == ["PAGINATION_NUMBER_INVALID"]
        r = await c.get("/v2/nothing/tags/list")
        assert r.status == 404 and await _errors(r) == ["NAME_UNKNOWN"]
        r = await c.get("/v2/_catalog")
        assert await r.json() == {"repositories": ["alpha/one", "lib/img", "zeta"]}
        r = await c.get("/v2/_catalog?n=1")
        assert (await r.json())["repositories"] == ["alpha/one"]
        assert r.headers["Link"] == '</v2/_catalog?last=alpha%2Fone&n=1>; rel="next"'
        r = await c.get("/v2/_catalog?n=5&last=alpha/one")
        assert (await r.json())["repositories"] == ["lib/img", "zeta"]

    run_with_client(str(tmp_path), scenario)


def test_invalid_names_and_methods(tmp_path):
    async def scenario(c):
        r = await c.get("/v2/UPPER/tags/list")
        assert r.status == 400 and await _errors(r) == ["NAME_INVALID"]
        r = await c.post("/v2/a/tags/list")
        assert r.status == 405 and await _errors(r) == ["UNSUPPORTED"]
        r = await c.get("/v2/a/blobs/sha256:short")
        assert r.status == 400 and await _errors(r) == ["DIGEST_INVALID"]

    run_with_client(str(tmp_path), scenario)


def test_referrers(tmp_path):
    async def scenario(c):
        subject, subject_body = await _push_image(mediatypes.OCI_MANIFEST, "v1")(c)
        empty = b"{}"
        await upload_blob(c, "lib/img", empty)
        artifact = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": digest(empty),
                    "size": 2,
                },
                "layers": [],
                "subject": {
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "digest": subject,
                    "size": len(subject_body),
                },
            }
        ).encode()
        r = await c.put(
            f"/v2/lib/img/manifests/{digest(artifact)}",
            data=artifact,
            headers={"Content-Type": mediatypes.OCI_MANIFEST},
        )
        assert r.status == 201
        assert r.headers["OCI-Subject"] == subject
        r = await c.get(f"/v2/lib/img/referrers/{subject}")
        index = await r.json()
        assert [m["digest"] for m in index["manifests"]] == [digest(artifact)]
        assert index["manifests"][0]["artifactType"] == "application/vnd.example.sbom"
        r = await c.get(f"/v2/lib/img/referrers/{subject}?artifactType=other/type")
        assert (await r.json())["manifests"] == []

    run_with_client(str(tmp_path), scenario)


def test_basic_auth(tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(make_entry("alice", "s3cret") + "\n")

    def basic(user, password):
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    async def scenario(c):
        r = await c.get("/v2/")
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="Registry Realm"'
        assert await _errors(r) == ["UNAUTHORIZED"]
        r = await c.get("/v2/", headers=basic("alice", "wrong"))
        assert r.status == 401
        r = await c.get("/v2/", headers=basic("bob", "s3cret"))
        assert r.status == 401
        r = await c.get("/v2/", headers=basic("alice", "s3cret"))
        assert r.status == 200
        r = await c.get("/v2/_catalog")
        assert r.status == 401

    run_with_client(str(tmp_path / "root"), scenario, str(htpasswd))


def test_storage_failures_map_to_spec_codes(tmp_path):
    async def scenario(c):
        r = await c.get(f"/v2/a/blobs/sha512:{'0' * 128}")
        body = await r.json()
        assert r.status == 400 and body["errors"][0]["code"] == "UNSUPPORTED"
        assert body["errors"][0]["message"].startswith("unsupported digest algorithm")
        r = await c.get("/v2/nothere/tags/list")
        assert r.status == 404 and await _errors(r) == ["NAME_UNKNOWN"]
        r = await c.get("/v2/a/manifests/-bad")
        assert r.status == 400 and await _errors(r) == ["TAG_INVALID"]
        r = await c.get(f"/v2/a/blobs/uploads/{'0' * 32}")
        body = await r.json()
        assert r.status == 404 and body["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert body["errors"][0]["detail"] == {"uuid": "0" * 32}

    run_with_client(str(tmp_path), scenario)


def test_storage_raises_dockyard_errors(tmp_path):
    import pytest

    from dockyard.distribution.storage import RegistryStorage, check_digest, check_name
    from dockyard.errors import InvalidParameter, NotFound

    storage = RegistryStorage(str(tmp_path))
    with pytest.raises(NotFound, match="blob unknown to registry") as e:
        storage.blob_path("a", digest(b"x"))
    assert e.value.detail == {"digest": digest(b"x")}
    with pytest.raises(NotFound, match="repository name not known"):
        storage.tags("a")
    with pytest.raises(InvalidParameter, match="invalid repository name"):
        check_name("A")
    with pytest.raises(InvalidParameter, match="invalid digest"):
        check_digest("sha256:xyz")
