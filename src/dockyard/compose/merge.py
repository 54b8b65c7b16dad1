"""Merging several compose files, with the compose spec's merge rules (13-merge.md).

- Mappings are merged key by key, recursively; a scalar of the later file wins.
- Sequences are appended, except:
  - command, entrypoint and healthcheck.test are replaced;
  - ports are unique by (host_ip, target, published, protocol) and volumes by target:
    a later entry replaces an earlier one with the same key;
  - environment, labels, build.args, build.labels, extra_hosts, depends_on, networks and
    ulimits are merged as mappings whatever their syntax in each file;
  - lists of plain strings (cap_add, dns, expose, profiles, ...) keep each value once.
- logging with a different driver replaces the earlier logging.
- `!reset` removes an attribute; `!override` replaces it without merging.
"""

from __future__ import annotations

import copy

from dockyard.compose.syntax import extra_hosts, key_values, port_key, ports_of, volume_target
from dockyard.compose.yamlfile import ComposeFile, Path

_REPLACED = {"command", "entrypoint"}
_MAPPING_LISTS = {"environment", "labels", "annotations", "sysctls"}


def _as_mapping(name: str, value: object) -> object:
    """Service attributes that have a list syntax and a mapping syntax, as a mapping."""
    if name in _MAPPING_LISTS:
        return key_values(value, none_for_bare=name == "environment")
    if name == "extra_hosts" and isinstance(value, list):
        out: dict[str, object] = {}
        for entry in extra_hosts(value):
            host, _, ip = entry.partition(":")
            out[host] = ip
        return out
    if name == "depends_on" and isinstance(value, list):
        return {dep: {"condition": "service_started", "required": True} for dep in value}
    if name == "networks" and isinstance(value, list):
        return {network: None for network in value}
    if name == "build" and isinstance(value, str):
        return {"context": value}
    return value


def _merge_service(base: dict, over: dict) -> dict:
    result = dict(base)
    for key, value in over.items():
        if key not in result:
            result[key] = copy.deepcopy(value)
            continue
        old = result[key]
        if key in _REPLACED:
            result[key] = copy.deepcopy(value)
        elif key == "ports":
            new = ports_of(value)
            keys = {port_key(p) for p in new}
            result[key] = [p for p in ports_of(old) if port_key(p) not in keys] + new
        elif key == "volumes":
            targets = {volume_target(v) for v in value}
            result[key] = [v for v in old if volume_target(v) not in targets] + list(value)
        elif (
            key == "logging"
            and old.get("driver")
            and value.get("driver")
            not in (
                None,
                old.get("driver"),
            )
        ):
            result[key] = copy.deepcopy(value)
        elif key == "healthcheck" and "test" in value:
            merged = _merge(old, {k: v for k, v in value.items() if k != "test"})
            merged["test"] = copy.deepcopy(value["test"])
            result[key] = merged
        elif key == "build":
            old_b, new_b = _as_mapping("build", old), _as_mapping("build", value)
            merged = _merge(old_b, new_b)
            for sub in ("args", "labels"):
                if sub in old_b or sub in new_b:
                    merged[sub] = {
                        **key_values(old_b.get(sub), none_for_bare=sub == "args"),
                        **key_values(new_b.get(sub), none_for_bare=sub == "args"),
                    }
            result[key] = merged
        else:
            result[key] = _merge(_as_mapping(key, old), _as_mapping(key, value))
    return result


def _merge(base: object, over: object) -> object:
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            result[key] = _merge(result[key], value) if key in result else copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(over, list):
        if all(isinstance(v, (str, int, float)) for v in base + over):
            out = list(base)
            out.extend(v for v in over if v not in base)
            return out
        return base + copy.deepcopy(over)
    if over is None and isinstance(base, dict):
        return base  # `networks: {front: }` adds nothing to an earlier mapping
    return copy.deepcopy(over)


def _drop(data: dict, path: Path) -> None:
    node: object = data
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def merge_files(files: list[ComposeFile]) -> dict:
    """The merged document of several loaded files, in order."""
    merged: dict = copy.deepcopy(files[0].data)
    for over in files[1:]:
        for path in sorted(over.resets | over.overrides, key=len):
            _drop(merged, path)
        for key, value in over.data.items():
            if key not in merged:
                merged[key] = copy.deepcopy(value)
            elif key == "services":
                services = dict(merged[key] or {})
                for name, service in (value or {}).items():
                    if name in services and isinstance(services[name], dict):
                        services[name] = _merge_service(services[name], service or {})
                    else:
                        services[name] = copy.deepcopy(service)
                merged[key] = services
            else:
                merged[key] = _merge(merged[key], value)
    return merged
