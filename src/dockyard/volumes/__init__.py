"""Volumes: the local volume driver (named, anonymous, tmpfs and bind-backed volumes)."""

from dockyard.volumes.service import ANONYMOUS_LABEL, VolumeService, validate_name

__all__ = ["ANONYMOUS_LABEL", "VolumeService", "validate_name"]
