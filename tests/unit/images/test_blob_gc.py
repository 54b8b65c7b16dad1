"""Blobs go with the images that hold them: rmi and prune remove the blobs no other image
holds, a lease (a pull, push, load or import in flight) defers that, start-up sweeps the rest."""

from __future__ import annotations

import io
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from test_service import _pulled, small_tar  # noqa: E402

from dockyard.images.reference import parse_reference  # noqa: E402
from dockyard.images.service import ImageService  # noqa: E402


def _two_images(svc: ImageService) -> tuple[str, str, set[str], set[str]]:
    """Two pulled images sharing their base layer; their ids and the blobs each holds."""
    base = small_tar({"base": b"b"})
    one = svc.register(_pulled(svc, [base, small_tar({"one": b"1"})]), parse_reference("one:1"))
    two = svc.register(_pulled(svc, [base, small_tar({"two": b"2"})]), parse_reference("two:1"))
    stored = set(svc.content.walk())
    return one.id, two.id, svc._blobs_of(one) & stored, svc._blobs_of(two) & stored


def test_rmi_removes_the_blobs_only_that_image_held(svc: ImageService) -> None:
    one, two, blobs_one, blobs_two = _two_images(svc)
    shared = blobs_one & blobs_two
    assert len(blobs_one) == 4 and len(shared) == 1  # config, manifest, 2 layers; 1 shared
    svc.remove("one:1")
    left = set(svc.content.walk())
    assert not (blobs_one - shared) & left  # config, manifest and its own layer: gone
    assert blobs_two <= left
    assert svc.inspect("two:1")["Id"] == two
    svc.remove("two:1")
    assert list(svc.content.walk()) == []


def test_prune_removes_blobs_and_untag_keeps_them(svc: ImageService) -> None:
    image_id = svc.import_rootfs(io.BytesIO(small_tar({"x": b"1"})), "imp:1")
    held = svc._blobs_of(svc.get(image_id)) & set(svc.content.walk())
    assert len(held) == 2  # config and the layer
    svc.tag("imp:1", "imp", "2")
    svc.remove("imp:1")  # an untag only
    assert held <= set(svc.content.walk())
    svc.prune(dangling_only=False)
    assert not svc.exists(image_id)
    assert list(svc.content.walk()) == []


def test_a_lease_defers_the_sweep(svc: ImageService) -> None:
    one, _two, blobs_one, blobs_two = _two_images(svc)
    with svc.lease():
        svc.remove("one:1")
        assert blobs_one <= set(svc.content.walk())  # a pull in flight may want them
    svc.remove("two:1")  # the next removal without a lease sweeps both
    assert list(svc.content.walk()) == []


def test_reconcile_sweeps_blobs_no_image_holds(svc: ImageService) -> None:
    _one, _two, blobs_one, blobs_two = _two_images(svc)
    stray = svc.content.put(b"a blob a crash left behind")
    svc.reconcile()
    assert set(svc.content.walk()) == blobs_one | blobs_two
    assert stray not in set(svc.content.walk())
