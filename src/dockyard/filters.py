"""Docker's list and prune filters that several services share (`label=`, `label!=`).

Services get filters as api/filters.py parses them (key -> list of values); `normalize`
also takes the older map form (`{"label": {"a=b": true}}`) and single strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def normalize(filters: Mapping[str, object] | None) -> dict[str, list[str]]:
    """Filters as key -> list of values, whichever of Docker's JSON forms they came in."""
    out: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            out[key] = list(value)  # type: ignore[call-overload]
    return out


def label_matches(labels: Mapping[str, str], spec: str) -> bool:
    """Does `key` or `key=value` match these labels?"""
    key, sep, value = spec.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def labels_match(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    """Docker's MatchKVList: every `key` or `key=value` matches (so `label!` excludes an
    object only when all of its values match, as moby's prune does)."""
    return all(label_matches(labels, w) for w in wanted)
