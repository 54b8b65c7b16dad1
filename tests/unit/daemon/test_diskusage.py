"""system df: layers shared by images are counted once, and each image's SharedSize."""

from __future__ import annotations

from dockyard.daemon.diskusage import layer_usage


def test_shared_layers_counted_once():
    images = [{"Id": "a", "Size": 150}, {"Id": "b", "Size": 130}, {"Id": "c", "Size": 7}]
    layers = {
        "a": [("base", 100), ("a1", 50)],
        "b": [("base", 100), ("b1", 30)],
        "c": [("other", 7)],
    }
    assert layer_usage(images, layers) == 100 + 50 + 30 + 7
    assert [i["SharedSize"] for i in images] == [100, 100, 0]


def test_same_diff_on_another_base_is_another_layer():
    images = [{"Id": "a"}, {"Id": "b"}]
    layers = {"a": [("x", 10), ("x/y", 5)], "b": [("z", 20), ("z/y", 5)]}
    assert layer_usage(images, layers) == 40
    assert [i["SharedSize"] for i in images] == [0, 0]
