"""Reading one compose file: safe YAML, duplicate keys refused, `!reset` and `!override`.

`!reset` and `!override` are the compose spec's merge tags. They are taken out of the
document and reported as paths, so the rest of the loader (interpolation, validation)
sees plain data and the merge knows which attributes to drop or to replace whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from dockyard.compose.errors import ComposeError

Path = tuple[object, ...]


class _Tagged:
    def __init__(self, tag: str, value: object) -> None:
        self.tag = tag
        self.value = value


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's parser when PyYAML has it) that refuses duplicate keys and knows
    the merge tags."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader reports unhashable keys itself
                if key in seen:
                    raise ComposeError(
                        f"line {key_node.start_mark.line + 1}: mapping key "
                        f'"{key}" already defined at line {seen[key]}'
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _construct_tagged(loader: _Loader, tag: str, node: yaml.Node) -> _Tagged:
    if isinstance(node, yaml.MappingNode):
        value: object = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        resolved = loader.resolve(yaml.ScalarNode, node.value, (node.style is None, False))
        value = loader.construct_object(yaml.ScalarNode(resolved, node.value, style=node.style))
    return _Tagged(tag, value)


# YAML 1.2 as Docker Compose reads it: only true/false are booleans (`restart: no` is the
# string "no"), dates stay strings, and there are no base-60 numbers (`- 80:80` is the
# string "80:80", not the integer 4880).
_REPLACED_TAGS = (
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_constructor(
    "tag:yaml.org,2002:bool",
    lambda loader, node: loader.construct_scalar(node).lower() == "true",
)
_Loader.add_constructor("!reset", lambda loader, node: _construct_tagged(loader, "!reset", node))
_Loader.add_constructor(
    "!override", lambda loader, node: _construct_tagged(loader, "!override", node)
)


@dataclass
class ComposeFile:
    """One loaded file: its data and the paths tagged `!reset` / `!override`."""

    path: str
    data: dict
    resets: set[Path] = field(default_factory=set)
    overrides: set[Path] = field(default_factory=set)


def parse_yaml(text: str, source: str) -> ComposeFile:
    """Parse one compose file's text. Raises ComposeError naming the file."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except ComposeError as err:
        raise ComposeError(f"{source}: yaml: {err.message}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = err.problem or err.context or "invalid YAML"
        raise ComposeError(f"{source}: yaml: {where}{problem}") from None
    except yaml.YAMLError as err:
        raise ComposeError(f"{source}: yaml: {err}") from None
    if data is None:
        raise ComposeError(f"{source}: empty compose file")
    if not isinstance(data, dict):
        raise ComposeError(f"{source}: Top-level object must be a mapping")
    found = ComposeFile(source, {})
    found.data = _untag(data, (), found)
    return found


def _untag(value: object, path: Path, found: ComposeFile) -> object:
    if isinstance(value, _Tagged):
        if value.tag == "!reset":
            found.resets.add(path)
            return _REMOVED
        found.overrides.add(path)
        return _untag(value.value, path, found)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            cleaned = _untag(item, (*path, key), found)
            if cleaned is not _REMOVED:
                out[key] = cleaned
        return out
    if isinstance(value, list):
        return [item for item in (_untag(v, path, found) for v in value) if item is not _REMOVED]
    return value


_REMOVED = object()
