"""The overlayfs snapshotter, mounts, and safe layer application and diffing."""

from .layer import AppliedLayer, LayerError, apply_layer, diff, write_diff
from .mount import Mount, mount_all, unmount, unmount_all
from .snapshotter import ACTIVE, COMMITTED, VIEW, Info, Snapshotter

__all__ = [
    "ACTIVE",
    "COMMITTED",
    "VIEW",
    "AppliedLayer",
    "Info",
    "LayerError",
    "Mount",
    "Snapshotter",
    "apply_layer",
    "diff",
    "mount_all",
    "unmount",
    "unmount_all",
    "write_diff",
]
