"""The registry refuses a tag outside Go's ASCII `[\\w][\\w.-]{0,127}` (e.g. `été`) and a
name or tag with a final newline, with TAG_INVALID / NAME_INVALID, and stores nothing."""

from __future__ import annotations

import os
from urllib.parse import quote

from distribution_helpers import image_manifest, run_with_client, upload_blob

from dockyard.distribution import mediatypes

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def test_unicode_and_newline_tags_are_refused(tmp_path):
    async def scenario(c):
        await upload_blob(c, "lib/img", CONFIG)
        body = image_manifest(CONFIG, [], mediatypes.OCI_MANIFEST)
        headers = {"Content-Type": mediatypes.OCI_MANIFEST}
        for tag in ("été", "\u0661", "a" * 129):
            r = await c.put(f"/v2/lib/img/manifests/{quote(tag)}", data=body, headers=headers)
            assert r.status == 400, tag
            assert (await r.json())["errors"][0]["code"] == "TAG_INVALID"
        # a path with a newline matches no route at all: 404, nothing stored
        r = await c.put("/v2/lib/img/manifests/v1%0A", data=body, headers=headers)
        assert r.status in (400, 404)
        r = await c.get("/v2/" + quote("lib/été") + "/tags/list")
        assert r.status == 400 and (await r.json())["errors"][0]["code"] == "NAME_INVALID"
        r = await c.get("/v2/" + quote("lib/img\n") + "/tags/list")
        assert r.status in (400, 404)
        r = await c.put("/v2/lib/img/manifests/v1", data=body, headers=headers)
        assert r.status == 201
        r = await c.get("/v2/lib/img/tags/list")
        assert (await r.json())["tags"] == ["v1"]

    run_with_client(str(tmp_path), scenario)
    tags = tmp_path.glob("**/_manifests/tags/*")
    assert sorted(os.path.basename(t) for t in tags) == ["v1"]
