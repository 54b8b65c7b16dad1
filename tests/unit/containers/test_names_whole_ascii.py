"""Every name and reference pattern is matched whole and in ASCII, as Go's regexp does: a
final newline does not pass (Python's `$` matches before it) and `\\w` is [0-9A-Za-z_]."""

from __future__ import annotations

import pytest

from dockyard.containers.names import validate_name
from dockyard.content.store import validate_digest
from dockyard.distribution import storage
from dockyard.errors import InvalidParameter
from dockyard.images import reference
from dockyard.runtime.config import validate_id
from dockyard.units import parse_bytes
from dockyard.volumes.service import validate_name as validate_volume_name

HEX = "a" * 64


@pytest.mark.parametrize("name", ["nl\n", "/nl\n", "été", "a\u0661", "ab\x00"])
def test_container_names(name):
    with pytest.raises(InvalidParameter, match=r"Invalid container name \("):
        validate_name(name)
    assert validate_name("ok_name-1.x") == "/ok_name-1.x"


@pytest.mark.parametrize("name", ["abc\n", "été", "ab\u0663"])
def test_volume_names(name):
    with pytest.raises(InvalidParameter, match="includes invalid characters for a local volume"):
        validate_volume_name(name)
    validate_volume_name("abc")


def test_digests():
    with pytest.raises(InvalidParameter, match="invalid digest"):
        validate_digest(f"sha256:{HEX}\n")
    assert validate_digest(f"sha256:{HEX}") == f"sha256:{HEX}"


@pytest.mark.parametrize("tag", ["été", "v1\n", "\u0661", "a" * 129])
def test_registry_tags(tmp_path, tag):
    store = storage.RegistryStorage(str(tmp_path))
    with pytest.raises(storage.TagInvalid):
        store._tag("lib/img", tag)


@pytest.mark.parametrize("name", ["lib/img\n", "été/img", "lib/\u0661"])
def test_registry_names(name):
    with pytest.raises(storage.NameInvalid):
        storage.check_name(name)


@pytest.mark.parametrize(
    "ref", ["busybox\n", "busybox:latest\n", "busybox:été", f"busybox@sha256:{HEX}\n", "ü/x"]
)
def test_image_references(ref):
    with pytest.raises(reference.InvalidReference):
        reference.parse_reference(ref)
    with pytest.raises(reference.InvalidReference):
        reference.validate_tag("été")
    assert not reference.is_image_id(HEX + "\n")
    assert reference.parse_reference("busybox:v1.0_x").tag == "v1.0_x"


def test_runtime_ids_and_sizes():
    with pytest.raises(InvalidParameter, match="invalid container id"):
        validate_id("abc\n")
    with pytest.raises(InvalidParameter, match="invalid container id"):
        validate_id("été")
    validate_id("abc_1.x+y-z")
    with pytest.raises(ValueError, match="invalid size"):
        parse_bytes("\u0661\u0662m")
