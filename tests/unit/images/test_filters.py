"""dockyard.filters: the label filters and filter normalisation images (and volumes) share."""

from __future__ import annotations

from dockyard.filters import label_matches, labels_match, normalize


def test_normalize_accepts_dockers_forms():
    assert normalize(None) == {}
    assert normalize({"label": {"a=b": True, "c": False}}) == {"label": ["a=b"]}
    assert normalize({"dangling": "true"}) == {"dangling": ["true"]}
    assert normalize({"reference": ["x", "y"]}) == {"reference": ["x", "y"]}


def test_labels():
    labels = {"a": "1", "b": ""}
    assert label_matches(labels, "a") and label_matches(labels, "a=1")
    assert not label_matches(labels, "a=2") and not label_matches(labels, "c")
    assert label_matches(labels, "b=")
    assert labels_match(labels, ["a", "b"]) and not labels_match(labels, ["a", "c"])
    assert labels_match(labels, [])
