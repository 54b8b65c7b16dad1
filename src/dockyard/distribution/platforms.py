"""Platforms (`os/arch[/variant]`) and the choice of a manifest out of an index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from ..errors import InvalidParameter, NotFound
from .mediatypes import Descriptor

_ARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def default_platform() -> Platform:
    """This machine's platform, e.g. linux/amd64 or linux/arm64/v8."""
    arch, variant = _ARCH.get(_platform.machine().lower(), (_platform.machine().lower(), ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str | None) -> Platform:
    """Parse `os[/arch[/variant]]` as Docker's --platform does."""
    if not text:
        return default_platform()
    parts = text.strip().lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    if len(parts) == 1:
        d = default_platform()
        return Platform(parts[0], d.architecture, d.variant)
    arch = _ARCH.get(parts[1], (parts[1], ""))[0]
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = ""  # containerd's normalisation: arm64 means v8
    if arch == "arm" and not variant:
        variant = "v7"
    return Platform(parts[0], arch, variant)


def _variants(wanted: Platform) -> list[str]:
    """The variants that run on `wanted`, best first (an arm v7 runs v6 and v5 too)."""
    v = wanted.variant
    if wanted.architecture == "arm64":
        return [v or "v8", ""] if v in ("", "v8") else [v]
    if wanted.architecture == "arm" and v.startswith("v") and v[1:].isdigit():
        return [f"v{n}" for n in range(int(v[1:]), 4, -1)] + [""]
    return [v, ""] if v else [""]


def select(entries: tuple[Descriptor, ...], wanted: Platform) -> Descriptor:
    """The entry of an index that matches `wanted`, as Docker chooses it."""
    variants = _variants(wanted)
    best: tuple[int, Descriptor] | None = None
    for entry in entries:
        p = entry.platform or {}
        if p.get("os", "").lower() != wanted.os or p.get("architecture") != wanted.architecture:
            continue
        variant = p.get("variant", "") or ""
        if wanted.architecture == "arm64" and variant == "v8":
            variant = "v8"
        if variant not in variants:
            if not wanted.variant and wanted.architecture not in ("arm", "arm64"):
                rank = len(variants)
            else:
                continue
        else:
            rank = variants.index(variant)
        if best is None or rank < best[0]:
            best = (rank, entry)
    if best is None:
        raise NotFound(f"no matching manifest for {wanted} in the manifest list entries")
    return best[1]
