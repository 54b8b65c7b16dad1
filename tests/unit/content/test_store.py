import io
import os

import pytest

from dockyard.content import ContentStore, digest_of
from dockyard.errors import InvalidParameter, NotFound


def test_put_and_read(tmp_path):
    store = ContentStore(str(tmp_path))
    d = store.put(b"hello")
    assert d == digest_of(b"hello")
    assert store.read(d) == b"hello"
    assert store.exists(d) and store.size(d) == 5
    assert list(store.walk()) == [d]


def test_mismatch_leaves_nothing(tmp_path):
    store = ContentStore(str(tmp_path))
    with pytest.raises(InvalidParameter):
        store.put(b"hello", expected=digest_of(b"other"))
    assert list(store.walk()) == []
    assert os.listdir(tmp_path / "ingest") == []


def test_size_mismatch(tmp_path):
    store = ContentStore(str(tmp_path))
    with pytest.raises(InvalidParameter):
        store.put_file(io.BytesIO(b"abc"), size=4)
    assert list(store.walk()) == []


def test_abandoned_writer_is_discarded(tmp_path):
    store = ContentStore(str(tmp_path))
    with store.writer() as w:
        w.write(b"partial")
    assert list(store.walk()) == []
    assert os.listdir(tmp_path / "ingest") == []


def test_bad_digest_and_missing(tmp_path):
    store = ContentStore(str(tmp_path))
    with pytest.raises(InvalidParameter):
        store.path("sha256:../../etc/passwd")
    with pytest.raises(NotFound):
        store.read(digest_of(b"nope"))
