"""Images: references, manifests and configs, the image store and the image service."""

from .reference import Reference, parse_image_id_or_reference, parse_reference

__all__ = ["Reference", "parse_image_id_or_reference", "parse_reference"]
