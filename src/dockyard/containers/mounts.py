"""Volumes, binds and tmpfs of a container: parsing Docker's three ways of asking for them
(Config.Volumes, HostConfig.Binds, HostConfig.Mounts/Tmpfs) into mount specs, inspect's
`Mounts` entries, and the OCI mounts a start needs."""

from __future__ import annotations

import os
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.runtime import mountdest

PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}


def _spec(kind: str, dest: str, **kw: Any) -> dict[str, Any]:
    """A mount spec; its destination checked as moby (absolute, not '/') and runc (nothing
    inside /proc but runc's allow-list) check it."""
    try:
        destination = mountdest.check(dest, kind, kw.get("Source") or None)
    except InvalidParameter as e:
        raise InvalidParameter(f'invalid mount config for type "{kind}": {e.message}') from None
    spec = {
        "Type": kind,
        "Destination": destination,
        "Source": "",
        "Name": "",
        "RW": True,
        "Propagation": "",
        "Mode": "",
        "CopyUp": False,
        "Anonymous": False,
        "Options": [],
    }
    spec.update(kw)
    return spec


def parse_bind(bind: str) -> dict[str, Any]:
    """One of HostConfig.Binds: "src:dst[:opts]"; src is a host path or a volume name."""
    parts = bind.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{bind}'")
    try:
        return _parse_bind(bind, parts)
    except InvalidParameter as e:
        if e.message.startswith("invalid mount config"):
            raise InvalidParameter(f"invalid volume specification: '{bind}': {e.message}") from None
        raise


def _parse_bind(bind: str, parts: list[str]) -> dict[str, Any]:
    src, dest = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    opts = [o for o in mode.split(",") if o]
    for o in opts:
        if o not in ("ro", "rw", "z", "Z", "nocopy", "copy") and o not in PROPAGATIONS:
            raise InvalidParameter(f"invalid mode: {mode}")
    rw = "ro" not in opts
    prop = next((o for o in opts if o in PROPAGATIONS), "")
    if src.startswith("/"):
        return _spec(
            "bind",
            dest,
            Source=os.path.normpath(src),
            RW=rw,
            Mode=mode,
            Propagation=prop or "rprivate",
        )
    if "/" in src:
        raise InvalidParameter(f"invalid volume specification: '{bind}'")
    return _spec("volume", dest, Name=src, RW=rw, Mode=mode or "z", CopyUp="nocopy" not in opts)


def parse_mount(m: dict[str, Any]) -> dict[str, Any]:
    """One of HostConfig.Mounts (the --mount syntax)."""
    kind = m.get("Type") or "volume"
    target = m.get("Target") or ""
    if not target:
        raise InvalidParameter(
            f'invalid mount config for type "{kind}": field Target must not be empty'
        )
    rw = not m.get("ReadOnly")
    if kind == "bind":
        src = m.get("Source") or ""
        if not src.startswith("/"):
            raise InvalidParameter(
                f'invalid mount config for type "bind": invalid mount path: '
                f"'{src}' mount path must be absolute"
            )
        if not os.path.exists(src):
            raise InvalidParameter(
                f'invalid mount config for type "bind": bind source path does not exist: {src}'
            )
        prop = (m.get("BindOptions") or {}).get("Propagation") or "rprivate"
        return _spec("bind", target, Source=os.path.normpath(src), RW=rw, Propagation=prop)
    if kind == "volume":
        name = m.get("Source") or ""
        if "/" in name:
            raise InvalidParameter(
                f"invalid mount config for type \"volume\": invalid volume name '{name}'"
            )
        nocopy = bool((m.get("VolumeOptions") or {}).get("NoCopy"))
        return _spec(
            "volume",
            target,
            Name=name,
            RW=rw,
            Mode="z" if name else "",
            CopyUp=not nocopy,
            Anonymous=not name,
        )
    if kind == "tmpfs":
        if m.get("Source"):
            raise InvalidParameter(
                'invalid mount config for type "tmpfs": field Source must not be specified'
            )
        tmpfs = m.get("TmpfsOptions") or {}
        opts = []
        if tmpfs.get("SizeBytes"):
            opts.append(f"size={int(tmpfs['SizeBytes'])}")
        if tmpfs.get("Mode"):
            opts.append(f"mode={int(tmpfs['Mode']):o}")
        return _spec("tmpfs", target, RW=rw, Options=opts)
    raise InvalidParameter(f'invalid mount config: mount type unknown: "{kind}"')


def plan(config: dict[str, Any], host_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mount the container asks for, later ones winning per destination like Docker."""
    specs: dict[str, dict[str, Any]] = {}

    def add(spec: dict[str, Any], explicit: bool) -> None:
        if (
            explicit
            and spec["Destination"] in specs
            and not specs[spec["Destination"]].get("_implicit")
        ):
            raise InvalidParameter(f"Duplicate mount point: {spec['Destination']}")
        specs[spec["Destination"]] = spec

    for dest in config.get("Volumes") or {}:
        try:
            spec = _spec("volume", dest, Anonymous=True, CopyUp=True)
        except InvalidParameter as e:
            raise InvalidParameter(f"invalid volume specification: '{dest}': {e.message}") from None
        spec["_implicit"] = True
        add(spec, False)
    for bind in host_config.get("Binds") or []:
        add(parse_bind(bind), True)
    for m in host_config.get("Mounts") or []:
        add(parse_mount(m), True)
    for dest, opts in (host_config.get("Tmpfs") or {}).items():
        options = [o for o in (opts or "").split(",") if o]
        rw = "ro" not in options
        options = [o for o in options if o not in ("ro", "rw")]
        add(_spec("tmpfs", dest, RW=rw, Options=options), True)
    out = []
    for spec in specs.values():
        spec.pop("_implicit", None)
        out.append(spec)
    return out


def inspect_entry(spec: dict[str, Any]) -> dict[str, Any]:
    """The container inspect `Mounts` entry for a mount spec."""
    if spec["Type"] == "volume":
        return {
            "Type": "volume",
            "Name": spec["Name"],
            "Source": spec["Source"],
            "Destination": spec["Destination"],
            "Driver": "local",
            "Mode": spec["Mode"],
            "RW": spec["RW"],
            "Propagation": "",
        }
    if spec["Type"] == "bind":
        return {
            "Type": "bind",
            "Source": spec["Source"],
            "Destination": spec["Destination"],
            "Mode": spec["Mode"],
            "RW": spec["RW"],
            "Propagation": spec["Propagation"],
        }
    return {
        "Type": "tmpfs",
        "Source": "",
        "Destination": spec["Destination"],
        "Mode": "",
        "RW": spec["RW"],
        "Propagation": "",
    }


def oci_mount(spec: dict[str, Any], source: str) -> dict[str, Any]:
    """The OCI config.json mount for a spec whose host path is `source`."""
    if spec["Type"] == "tmpfs":
        options = ["nosuid", "nodev", "noexec"] + list(spec["Options"])
        if not spec["RW"]:
            options.append("ro")
        return {
            "destination": spec["Destination"],
            "type": "tmpfs",
            "source": "tmpfs",
            "options": options,
        }
    options = ["rbind", spec.get("Propagation") or "rprivate"]
    options.append("rw" if spec["RW"] else "ro")
    return {
        "destination": spec["Destination"],
        "type": "bind",
        "source": source,
        "options": options,
    }
