"""Request bodies checked as dockerd's Go JSON decoder checks them.

dockerd decodes a body into Go structs: a number that does not fit the field's Go type (1e26
into an int64 Memory, -1 into a uint16 BlkioWeight, 1.5 into an int) and a value of the wrong
JSON kind (a string where a bool goes) are refused before anything happens, with
`invalid JSON: json: cannot unmarshal number 1e26 into Go struct field
HostConfig.HostConfig.Memory of type int64` (Go's UnmarshalTypeError: the innermost struct,
then the path of JSON field names from the top). `check(body, root)` does the same.

STRUCTS, the Go type of every field of the request bodies dockyard takes, is generated from
Docker's Engine API spec (docker-engine-api-v1.47.yaml: `integer` + `format`, `array`,
`object`, `$ref`) by `python -m dockyard.api.gotypes SPEC.yaml`, then GO_OVERRIDES, read from
moby v27.5.1's Go types where the spec does not say the Go type (CpuShares is int64, not int;
BlkioWeight is uint16; Cmd is a StrSlice that takes a string too; durations are
time.Duration). tests/unit/api/test_gotypes.py regenerates it from the spec and compares.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from dockyard.api.gotypes_structs import STRUCTS
from dockyard.errors import InvalidParameter

INT_RANGES: dict[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "time.Duration": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
    "uint32": (0, 2**32 - 1),
    "fs.FileMode": (0, 2**32 - 1),
    "uint16": (0, 2**16 - 1),
    "uint8": (0, 2**8 - 1),
}
PRIMITIVES = {*INT_RANGES, "float64", "bool", "string", "any", "strslice.StrSlice"}

# Go package of each struct, for the `of type container.HostConfig` part of a message.
PACKAGES = {
    "CreateRequest": "container",
    "Config": "container",
    "HostConfig": "container",
    "UpdateConfig": "container",
    "RestartPolicy": "container",
    "LogConfig": "container",
    "DeviceMapping": "container",
    "DeviceRequest": "container",
    "HealthcheckConfig": "v1",
    "ExecOptions": "container",
    "ExecStartOptions": "container",
    "Ulimit": "units",
    "WeightDevice": "blkiodev",
    "ThrottleDevice": "blkiodev",
    "Mount": "mount",
    "BindOptions": "mount",
    "VolumeOptions": "mount",
    "TmpfsOptions": "mount",
    "Driver": "mount",
    "PortBinding": "nat",
    "NetworkingConfig": "network",
    "EndpointSettings": "network",
    "EndpointIPAMConfig": "network",
    "IPAM": "network",
    "IPAMConfig": "network",
    "NetworkCreateRequest": "network",
    "ConnectOptions": "network",
    "DisconnectOptions": "network",
    "VolumeCreateOptions": "volume",
    "AuthConfig": "registry",
}
# Go names of structs whose Go name differs from the name used in STRUCTS.
GO_NAMES = {
    "NetworkCreateRequest": "CreateRequest",
    "VolumeCreateOptions": "CreateOptions",
}

# Where the spec does not give the Go type (moby v27.5.1, api/types/...).
GO_OVERRIDES: dict[tuple[str, str], str] = {
    ("CreateRequest", "Cmd"): "strslice.StrSlice",
    ("CreateRequest", "Entrypoint"): "strslice.StrSlice",
    ("CreateRequest", "Shell"): "strslice.StrSlice",
    ("Config", "Cmd"): "strslice.StrSlice",
    ("Config", "Entrypoint"): "strslice.StrSlice",
    ("Config", "Shell"): "strslice.StrSlice",
    ("ExecOptions", "ConsoleSize"): "[]uint",
    ("ExecStartOptions", "ConsoleSize"): "[]uint",
    ("HostConfig", "ConsoleSize"): "[]uint",
    ("HostConfig", "CpuShares"): "int64",
    ("HostConfig", "BlkioWeight"): "uint16",
    ("HostConfig", "IOMaximumIOps"): "uint64",
    ("HostConfig", "IOMaximumBandwidth"): "uint64",
    ("HostConfig", "KernelMemory"): "int64",
    ("UpdateConfig", "CpuShares"): "int64",
    ("UpdateConfig", "BlkioWeight"): "uint16",
    ("UpdateConfig", "IOMaximumIOps"): "uint64",
    ("UpdateConfig", "IOMaximumBandwidth"): "uint64",
    ("UpdateConfig", "KernelMemory"): "int64",
    ("HealthcheckConfig", "Interval"): "time.Duration",
    ("HealthcheckConfig", "Timeout"): "time.Duration",
    ("HealthcheckConfig", "StartPeriod"): "time.Duration",
    ("HealthcheckConfig", "StartInterval"): "time.Duration",
    ("Ulimit", "Soft"): "int64",
    ("Ulimit", "Hard"): "int64",
    ("WeightDevice", "Weight"): "uint16",
    ("ThrottleDevice", "Rate"): "uint64",
    ("TmpfsOptions", "Mode"): "fs.FileMode",
    ("EndpointSettings", "GlobalIPv6PrefixLen"): "int",
}

# STRUCTS (gotypes_structs.py) is generated from the spec: see generate() below.

# (method, route without the version prefix) -> the Go struct dockerd decodes the body into
ROOTS: dict[tuple[str, str], str] = {
    ("POST", "/containers/create"): "CreateRequest",
    ("POST", "/containers/{id}/update"): "UpdateConfig",
    ("POST", "/commit"): "Config",
    ("POST", "/containers/{id}/exec"): "ExecOptions",
    ("POST", "/exec/{id}/start"): "ExecStartOptions",
    ("POST", "/volumes/create"): "VolumeCreateOptions",
    ("POST", "/networks/create"): "NetworkCreateRequest",
    ("POST", "/networks/{id}/connect"): "ConnectOptions",
    ("POST", "/networks/{id}/disconnect"): "DisconnectOptions",
    ("POST", "/auth"): "AuthConfig",
}


class GoFloat(float):
    """A JSON number with a fraction or an exponent, with its text as it came (Go's messages
    quote the literal: `number 1e26`)."""

    raw: str

    def __new__(cls, text: str) -> GoFloat:
        value = super().__new__(cls, text)
        value.raw = text
        return value


def json_kind(value: Any) -> str:
    """The JSON kind Go's decoder names in its errors (`number`, `string`, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _literal(value: int | float) -> str:
    return value.raw if isinstance(value, GoFloat) else repr(value)


def _display(typ: str) -> str:
    if typ.startswith("[]"):
        return "[]" + _display(typ[2:])
    if typ.startswith("map[string]"):
        return "map[string]" + _display(typ[len("map[string]") :])
    if typ in PRIMITIVES:
        return "[]string" if typ == "strslice.StrSlice" else typ
    if typ == "struct {}":
        return typ
    return f"{PACKAGES.get(typ, 'types')}.{GO_NAMES.get(typ, typ)}"


class _Error(Exception):
    def __init__(self, what: str, typ: str) -> None:
        self.what, self.typ = what, typ


def _check_value(value: Any, typ: str, struct: str, stack: list[str]) -> None:
    if value is None:
        return  # null leaves Go's zero value
    if typ == "any":
        return
    if typ in INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Error(json_kind(value), typ)
        low, high = INT_RANGES[typ]
        if isinstance(value, float) or not low <= value <= high:
            raise _Error(f"number {_literal(value)}", typ)
        return
    if typ == "float64":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Error(json_kind(value), typ)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Error(f"number {_literal(value)}", typ)
        return
    if typ == "bool":
        if not isinstance(value, bool):
            raise _Error(json_kind(value), typ)
        return
    if typ == "string":
        if not isinstance(value, str):
            raise _Error(json_kind(value), typ)
        return
    if typ == "strslice.StrSlice":  # a string or an array of strings
        if isinstance(value, str):
            return
        _check_value(value, "[]string", struct, stack)
        return
    if typ.startswith("[]"):
        if not isinstance(value, list):
            raise _Error(json_kind(value), typ)
        for item in value:
            _check_value(item, typ[2:], struct, stack)
        return
    if typ.startswith("map[string]"):
        if not isinstance(value, dict):
            raise _Error(json_kind(value), typ)
        for item in value.values():
            _check_value(item, typ[len("map[string]") :], struct, stack)
        return
    if not isinstance(value, dict):
        raise _Error(json_kind(value), typ)
    if typ == "struct {}":
        return
    _check_struct(value, typ, stack)


def _check_struct(obj: dict[str, Any], name: str, stack: list[str]) -> None:
    fields = STRUCTS.get(name, {})
    for key, value in obj.items():
        typ = fields.get(key)
        if typ is None:
            # Go matches field names case-insensitively when no exact match exists
            typ = next((t for k, t in fields.items() if k.lower() == key.lower()), None)
        if typ is None:
            continue  # unknown fields are ignored, as Go does
        path = [*stack, key]
        try:
            _check_value(value, typ, name, path)
        except _Error as e:
            struct = GO_NAMES.get(name, name)
            raise InvalidParameter(
                f"invalid JSON: json: cannot unmarshal {e.what} into Go struct field "
                f"{struct}.{'.'.join(path)} of type {_display(e.typ)}"
            ) from None


def check(body: Any, root: str) -> None:
    """Refuse `body` as Go would when decoding it into the struct `root` of STRUCTS."""
    if body is None:
        return
    if not isinstance(body, dict):
        raise InvalidParameter(
            f"invalid JSON: json: cannot unmarshal {json_kind(body)} into Go value of type "
            f"{_display(root)}"
        )
    _check_struct(body, root, [])


def root_for(method: str, route: str) -> str | None:
    """The Go struct of the body of `method route` (route as registered, versioned or not)."""
    if route.startswith("/v{api_version"):
        route = route[route.index("}") + 1 :]
    return ROOTS.get((method.upper(), route))


# --- the generator -------------------------------------------------------------------------

# definition of the spec -> the Go struct it is
_DEFINITIONS = {
    "ContainerConfig": "Config",
    "HostConfig": "HostConfig",
    "HealthConfig": "HealthcheckConfig",
    "RestartPolicy": "RestartPolicy",
    "Mount": "Mount",
    "DeviceMapping": "DeviceMapping",
    "DeviceRequest": "DeviceRequest",
    "ThrottleDevice": "ThrottleDevice",
    "NetworkingConfig": "NetworkingConfig",
    "EndpointSettings": "EndpointSettings",
    "EndpointIPAMConfig": "EndpointIPAMConfig",
    "PortBinding": "PortBinding",
    "IPAM": "IPAM",
    "IPAMConfig": "IPAMConfig",
    "VolumeCreateOptions": "VolumeCreateOptions",
    "AuthConfig": "AuthConfig",
    "Driver": "Driver",
}
# inline objects of the spec -> their Go struct (otherwise the field's name)
_INLINE = {
    ("HostConfig", "BlkioWeightDevice"): "WeightDevice",
    ("UpdateConfig", "BlkioWeightDevice"): "WeightDevice",
    ("HostConfig", "Ulimits"): "Ulimit",
    ("UpdateConfig", "Ulimits"): "Ulimit",
    ("VolumeOptions", "DriverConfig"): "Driver",
}
# the request bodies: route -> its Go struct
_BODIES = {
    ("post", "/containers/create"): "CreateRequest",
    ("post", "/containers/{id}/update"): "UpdateConfig",
    ("post", "/commit"): "Config",
    ("post", "/containers/{id}/exec"): "ExecOptions",
    ("post", "/exec/{id}/start"): "ExecStartOptions",
    ("post", "/volumes/create"): "VolumeCreateOptions",
    ("post", "/networks/create"): "NetworkCreateRequest",
    ("post", "/networks/{id}/connect"): "ConnectOptions",
    ("post", "/networks/{id}/disconnect"): "DisconnectOptions",
    ("post", "/auth"): "AuthConfig",
}


def generate(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """STRUCTS from the Engine API spec (a parsed docker-engine-api yaml)."""
    defs = spec["definitions"]
    structs: dict[str, dict[str, str]] = {}

    def ref_name(ref: str) -> str:
        return ref.rsplit("/", 1)[-1]

    def properties(schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            return properties(defs[ref_name(schema["$ref"])])
        out: dict[str, Any] = {}
        for part in schema.get("allOf") or []:
            out.update(properties(part))
        out.update(schema.get("properties") or {})
        return out

    def type_of(schema: dict[str, Any], owner: str, field: str) -> str:
        if "$ref" in schema:
            name = ref_name(schema["$ref"])
            target = defs[name]
            if name in _DEFINITIONS:
                return struct(target, _DEFINITIONS[name])
            return type_of(target, owner, field)
        if "allOf" in schema:
            parts = schema["allOf"]
            if len(parts) == 1 and not properties(schema):
                return type_of(parts[0], owner, field)  # a described alias of a $ref
            return struct(schema, _INLINE.get((owner, field), field))
        kind = schema.get("type")
        if kind == "integer":
            fmt = schema.get("format")
            return fmt if fmt in INT_RANGES else "int"
        if kind == "number":
            return "float64"
        if kind == "boolean":
            return "bool"
        if kind == "string":
            return "string"
        if kind == "array":
            return "[]" + type_of(schema.get("items") or {}, owner, field)
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                return struct(schema, _INLINE.get((owner, field), field))
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                value = type_of(extra, owner, field)
                if extra.get("type") == "object" and not extra.get("properties"):
                    value = "struct {}"
                return "map[string]" + value
            return "map[string]any" if extra else "any"
        if schema.get("enum") and all(isinstance(e, str) for e in schema["enum"]):
            return "string"
        return "any"

    def struct(schema: dict[str, Any], name: str) -> str:
        if name in structs:
            return name
        structs[name] = {}
        fields = {}
        for field, sub in properties(schema).items():
            fields[field] = GO_OVERRIDES.get((name, field)) or type_of(sub, name, field)
        for (owner, field), typ in GO_OVERRIDES.items():  # Go fields the spec leaves out
            if owner == name:
                fields.setdefault(field, typ)
        structs[name] = dict(sorted(fields.items()))
        return name

    for (method, path), name in _BODIES.items():
        op = spec["paths"][path][method]
        body = next(p for p in op["parameters"] if p.get("in") == "body")
        struct(body["schema"], name)
    return dict(sorted(structs.items()))


def _render(structs: dict[str, dict[str, str]]) -> str:
    lines = ["STRUCTS: dict[str, dict[str, str]] = {"]
    for name, fields in structs.items():
        lines.append(f"    {name!r}: {{")
        for field, typ in fields.items():
            lines.append(f"        {field!r}: {typ!r},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines).replace("'", '"')


if __name__ == "__main__":  # regenerate gotypes_structs.py from the spec
    import yaml

    with open(sys.argv[1]) as f:
        table = generate(yaml.safe_load(f))
    path = os.path.join(os.path.dirname(__file__), "gotypes_structs.py")
    with open(path) as f:
        text = f.read()
    start = text.index("STRUCTS: dict[str, dict[str, str]] = {")
    end = text.index("}\n# fmt: on", start) + 1
    with open(path, "w") as f:
        f.write(text[:start] + _render(table) + text[end:])
