"""The example images for tests and benchmarks: `cli/images.py` (production, behind
`dockyard local up`), re-exported beside the other test builders."""

from dockyard.cli.images import BUSYBOX_IMAGE, WEB_IMAGE, build_test_images

__all__ = ["BUSYBOX_IMAGE", "WEB_IMAGE", "build_test_images"]
