"""Docker's reference grammar: normalisation, familiar forms and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidParameter
from dockyard.images.reference import (
    Reference,
    parse_any_reference,
    parse_image_id_or_reference,
    parse_reference,
)

D = "sha256:" + "a" * 64

GOOD = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag"),
    (
        "127.0.0.1:5000/test/busybox:1",
        "127.0.0.1:5000/test/busybox:1",
        "127.0.0.1:5000/test/busybox:1",
    ),
    ("Example.com/foo", "Example.com/foo:latest", "Example.com/foo:latest"),
    ("[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    (f"h:1/a/b:t@{D}", f"h:1/a/b:t@{D}", f"h:1/a/b:t@{D}"),
    ("ns/a__b.c-d---e_f", "docker.io/ns/a__b.c-d---e_f:latest", "ns/a__b.c-d---e_f:latest"),
    ("a.b/c", "a.b/c:latest", "a.b/c:latest"),
    ("foo:Tag_1.0-x", "docker.io/library/foo:Tag_1.0-x", "foo:Tag_1.0-x"),
]

BAD = [
    ("", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/Foo:tag", "invalid reference format: repository name (user/Foo) must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("busybox:-tag", "invalid reference format"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busy..box", "invalid reference format"),
    ("busybox/", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "a" * 63 + "g", "invalid reference format"),
    ("busybox@sha256:" + "a" * 65, "invalid checksum digest length"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    (
        "a" * 64,
        "invalid repository name (" + "a" * 64 + "), cannot specify 64-byte hexadecimal strings",
    ),
    ("x/" + "a" * 260, "repository name must not be more than 255 characters"),
    ("host:port/foo", "invalid reference format"),
]


@pytest.mark.parametrize("text,full,familiar", GOOD)
def test_good_references(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize("text,message", BAD)
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_reference(text)
    assert str(info.value) == message
    assert info.value.status == 400


def test_fields_and_properties() -> None:
    ref = parse_reference(f"registry.example.com:5000/team/app:v2@{D}")
    assert ref == Reference("registry.example.com:5000", "team/app", "v2", D)
    assert ref.name == "registry.example.com:5000/team/app"
    assert ref.repository == "team/app"
    assert ref.familiar_name == "registry.example.com:5000/team/app"
    b = parse_reference("busybox")
    assert (b.domain, b.path, b.tag, b.digest) == ("docker.io", "library/busybox", "latest", None)
    assert b.name == "docker.io/library/busybox"
    assert b.familiar_name == "busybox"
    assert parse_reference("docker.io/library/a/b").familiar_name == "library/a/b"
    assert parse_any_reference("busybox").tag is None


def test_id_or_reference() -> None:
    hexid = "0123456789abcdef" * 4
    assert parse_image_id_or_reference(hexid) == "sha256:" + hexid
    assert parse_image_id_or_reference("sha256:" + hexid) == "sha256:" + hexid
    assert parse_image_id_or_reference("busybox") == parse_reference("busybox")


# no "." so that a first component is never taken for a registry host
_comp = st.from_regex(r"[a-z0-9]{1,5}(?:(?:_|__|-{1,2})[a-z0-9]{1,5}){0,2}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(
    host=st.sampled_from(["", "localhost:5000/", "reg.example.com/", "10.0.0.1:80/"]),
    comps=st.lists(_comp, min_size=1, max_size=3),
    tag=st.one_of(st.none(), _tag),
)
def test_round_trip_property(host: str, comps: list[str], tag: str | None) -> None:
    text = host + "/".join(comps) + (f":{tag}" if tag else "")
    ref = parse_reference(text)
    assert ref.tag == (tag or "latest")
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar()) == ref
    assert ref.path.endswith("/".join(comps))


@given(st.text(max_size=40))
def test_never_crashes(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidParameter:
        return
    assert parse_reference(str(ref)) == ref
