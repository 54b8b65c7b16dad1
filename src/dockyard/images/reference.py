"""Image references as Docker parses them (the grammar of distribution/reference).

    reference      := name [ ":" tag ] [ "@" digest ]
    name           := [domain '/'] path-component ['/' path-component]*
    domain         := host [':' port]   host := domain-name | '[' IPv6 ']'
    path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := [._] | __ | -+
    tag            := [\\w][\\w.-]{0,127}
    digest         := algorithm ':' hex (32 or more)

Familiar names are normalised the way the docker CLI and daemon do it: `busybox` is
`docker.io/library/busybox:latest`, `index.docker.io` is `docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

NAME_RE = re.compile(rf"^(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)\Z", re.ASCII)
REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?\Z", re.ASCII)
TAG_RE = re.compile(rf"^{_TAG}\Z", re.ASCII)
ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}\Z", re.ASCII)
ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{64}\Z", re.ASCII)
SHORT_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{1,64}\Z", re.ASCII)

_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}


class InvalidReference(InvalidParameter):
    """A string that is not a valid image reference (Docker's wording in the message)."""


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def repository(self) -> str:
        """The path inside the registry, e.g. `library/busybox`."""
        return self.path

    @property
    def familiar_name(self) -> str:
        """The name as the docker CLI shows it, e.g. `busybox` or `localhost:5000/x`."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if (
                path.startswith(OFFICIAL_REPO_PREFIX)
                and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]
            ):
                path = path[len(OFFICIAL_REPO_PREFIX) :]
            return path
        return self.name

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The familiar string, e.g. `busybox:latest` or `busybox@sha256:...`."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        validate_tag(tag)
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, _validate_digest(digest))

    def name_only(self) -> Reference:
        return Reference(self.domain, self.path)

    @property
    def registry(self) -> str:
        """The registry host to contact (`docker.io` means Docker Hub)."""
        return self.domain


def validate_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise InvalidReference("invalid tag format")
    return tag


def _validate_digest(digest: str) -> str:
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not hexpart or not algorithm:
        raise InvalidReference("invalid checksum digest format")
    want = _DIGEST_HEX_LEN.get(algorithm)
    if want is None:
        raise InvalidReference("unsupported digest algorithm")
    if len(hexpart) != want:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidReference("invalid checksum digest format")
    return digest


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split `name` into (domain, remainder) the way Docker decides what is a registry host."""
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_any_reference(s: str) -> Reference:
    """Parse a reference with normalisation of familiar names but WITHOUT adding `latest`."""
    if ANCHORED_ID_RE.match(s):
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(s)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep >= 0 else remainder
    if remote.lower() != remote:
        raise InvalidReference(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    full = domain + "/" + remainder
    m = REFERENCE_RE.match(full)
    if m is None:
        if s == "":
            raise InvalidReference("invalid reference format")
        if REFERENCE_RE.match(full.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest is not None:
        _validate_digest(digest)
    nm = NAME_RE.match(name)
    assert nm is not None
    domain, path = nm.group(1) or "", nm.group(2)
    return Reference(domain, path, tag, digest)


def parse_reference(s: str) -> Reference:
    """Parse and normalise `s`; a reference with neither tag nor digest gets `latest`.

    Raises InvalidReference (an InvalidParameter, HTTP 400) with Docker's message.
    """
    ref = parse_any_reference(s)
    if ref.tag is None and ref.digest is None:
        ref = Reference(ref.domain, ref.path, DEFAULT_TAG, None)
    return ref


def parse_repository(s: str) -> Reference:
    """Parse a repository name only (no tag, no digest), e.g. for `docker tag SRC REPO`."""
    ref = parse_any_reference(s)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidReference("invalid reference format")
    return ref


def is_image_id(s: str) -> bool:
    """True for a full image ID: 64 hex digits, with or without `sha256:`."""
    return bool(ID_RE.match(s))


def normalize_id(s: str) -> str:
    """`abc...` or `sha256:abc...` (full) -> `sha256:abc...`."""
    return s if s.startswith("sha256:") else "sha256:" + s


def parse_image_id_or_reference(s: str) -> str | Reference:
    """An image ID (full, returned as `sha256:HEX`) or a parsed, normalised Reference.

    Short ID prefixes are not resolved here (that needs the image store); a string that is
    neither a full ID nor a valid reference raises InvalidReference.
    """
    if is_image_id(s):
        return normalize_id(s)
    return parse_reference(s)
