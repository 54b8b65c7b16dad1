"""The quick schema check agrees with jsonschema: it never passes a document jsonschema
rejects, and it passes the valid documents compose files are made of."""

from __future__ import annotations

import copy
import glob
import os
import re

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.compose.quickcheck import surely_valid
from dockyard.compose.schema import compose_schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

VALID = {
    "services": {
        "web": {
            "image": "busybox",
            "build": {"context": ".", "args": {"A": "1"}, "target": "t", "labels": ["x=y"]},
            "command": ["sleep", "60"],
            "entrypoint": "sh -c",
            "environment": {"A": "1", "B": None, "C": 2, "D": True},
            "env_file": [".env"],
            "ports": ["80:80", {"target": 81, "published": "8081", "protocol": "udp"}, 82],
            "expose": [3000, "3001"],
            "volumes": ["data:/data", {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 10}}],
            "networks": {"front": {"aliases": ["www"]}},
            "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
            "restart": "on-failure:3",
            "deploy": {"replicas": 2},
            "labels": ["a=b"],
            "user": "1000:1000",
            "working_dir": "/srv",
            "stop_grace_period": "3s",
            "init": True,
            "ulimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": 5},
            "mem_limit": "64m",
            "cpus": 0.5,
            "extra_hosts": ["h:1.2.3.4"],
            "dns": ["9.9.9.9"],
            "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
            "x-custom": {"anything": [1, 2]},
        },
        "db": {"image": "redis", "profiles": ["x"], "scale": 1, "cap_add": ["NET_ADMIN"]},
    },
    "networks": {"front": {"driver": "bridge"}, "ext": {"external": True}},
    "volumes": {"data": {}, "old": {"external": True, "name": "old"}},
    "version": "3.8",
    "name": "proj",
}


def _jsonschema_valid(document: object) -> bool:
    return not list(jsonschema.Draft7Validator(compose_schema()).iter_errors(document))


def _project_files() -> list[str]:
    """Compose files in the repository (the examples)."""
    return sorted(glob.glob(os.path.join(ROOT, "examples", "**", "compose.y*ml"), recursive=True))


def test_valid_documents_pass_quickly():
    assert _jsonschema_valid(VALID)
    assert surely_valid(compose_schema(), VALID)
    files = _project_files()
    assert files
    for path in files:
        with open(path) as fh:
            text = re.sub(r"\$\{[^}]*\}", "x", fh.read())
        doc = yaml.safe_load(text)
        assert surely_valid(compose_schema(), doc), path


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["services"]["web"].update(ports=80),
        lambda d: d["services"]["web"].update(pid="host", bogus=1),
        lambda d: d["services"]["web"].update(restart=None, depends_on={"db": {"x": 1}}),
        lambda d: d["services"]["web"]["depends_on"]["db"].update(condition="service_done"),
        lambda d: d["services"]["web"].update(expose=[3000, 3000]),
        lambda d: d["services"]["web"].update(cpus=True),
        lambda d: d["services"]["web"]["ulimits"].update(nofile={"soft": 1}),
        lambda d: d.update(services={"bad name!": {"image": "x"}}),
        lambda d: d.update(volumes=[]),
        lambda d: d.update(unknown=1),
    ],
)
def test_invalid_documents_are_not_passed(change):
    doc = copy.deepcopy(VALID)
    change(doc)
    assert not _jsonschema_valid(doc)
    assert not surely_valid(compose_schema(), doc)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", "x", "80:80", "1s", "service_healthy", "no", "host", "a=b", "/p"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["image", "target", "soft", "condition", "x-a", "name", "a", "b"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


_ALL_PATHS = [p for p in _paths(VALID) if p]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ALL_PATHS), _values), min_size=1, max_size=3))
def test_never_passes_what_jsonschema_rejects(edits):
    """Random values put anywhere in a valid document: a pass is always jsonschema's too."""
    doc = copy.deepcopy(VALID)
    for path, value in edits:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    if surely_valid(compose_schema(), doc):
        assert _jsonschema_valid(doc), doc
