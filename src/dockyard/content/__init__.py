"""Content-addressed blob store (sha256): a blob is whole and verified, or absent."""

from .store import ContentStore, Writer, digest_of, validate_digest

__all__ = ["ContentStore", "Writer", "digest_of", "validate_digest"]
