"""Build the local test and demo images (no registry is reachable here).

Neighbours: the Dockerfiles and page files live in `examples/images/<name>/`;
`dockyard local up` (cli/local.py) builds them for its demos, and e2e tests and
benchmarks (through `dockyard.testing.images`) call `build_test_images` once per session.

Each image is `FROM scratch` plus Debian's static busybox (`/usr/bin/busybox`,
package busybox-static). The build context is assembled in a temp dir: the
example directory's files, and for the base image a `rootfs/` holding busybox
and one symlink per applet. Every image carries a content-hash label over its
inputs (and its base image's hash), so an unchanged image is never rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

log = logging.getLogger(__name__)

BUSYBOX_IMAGE = "dockyard-test/busybox:1"
WEB_IMAGE = "dockyard-demo/web:1"
HASH_LABEL = "com.dockyard.test-image.hash"
DEFAULT_BUSYBOX = Path("/usr/bin/busybox")
# src/dockyard/cli/images.py -> repository root
DEFAULT_EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "images"


@dataclass(frozen=True, slots=True)
class _ImageRecipe:
    tag: str
    directory: str  # under examples/images/
    with_rootfs: bool  # add rootfs/ (busybox + applet links) to the context
    buildargs: tuple[tuple[str, str], ...] = ()


# Build order matters: web is FROM the busybox image.
_RECIPES = (
    _ImageRecipe(BUSYBOX_IMAGE, "busybox", with_rootfs=True),
    _ImageRecipe(WEB_IMAGE, "web", with_rootfs=False),
    # The walkthrough's services (examples/walkthrough), FROM web:1.
    _ImageRecipe("dockyard-demo/auth:1", "auth", with_rootfs=False, buildargs=(("VERSION", "1"),)),
    _ImageRecipe("dockyard-demo/auth:2", "auth", with_rootfs=False, buildargs=(("VERSION", "2"),)),
    _ImageRecipe("dockyard-demo/random:1", "random", with_rootfs=False),
)


def build_test_images(
    client: docker.DockerClient,
    *,
    examples_dir: Path = DEFAULT_EXAMPLES,
    busybox: Path = DEFAULT_BUSYBOX,
) -> dict[str, str]:
    """Build (or reuse) every test image; return {tag: image id}.

    Raises FileNotFoundError when busybox or the example files are missing.
    """
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} missing: apt-get install busybox-static")
    built: dict[str, str] = {}
    base_hash = ""
    for recipe in _RECIPES:
        source = examples_dir / recipe.directory
        if not (source / "Dockerfile").is_file():
            raise FileNotFoundError(f"{source / 'Dockerfile'} missing")
        parent = base_hash + repr(recipe.buildargs)
        digest = _content_hash(source, busybox if recipe.with_rootfs else None, parent)
        built[recipe.tag] = _build_if_changed(client, recipe, source, busybox, digest)
        if recipe.with_rootfs or recipe.tag == WEB_IMAGE:
            base_hash = digest  # later images build FROM these
    return built


def _build_if_changed(
    client: docker.DockerClient,
    recipe: _ImageRecipe,
    source: Path,
    busybox: Path,
    digest: str,
) -> str:
    existing = _existing_image(client, recipe.tag)
    if existing is not None and (existing.labels or {}).get(HASH_LABEL) == digest:
        return str(existing.id)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dockyard-image-") as tmp:
        context = Path(tmp)
        shutil.copytree(source, context, dirs_exist_ok=True, symlinks=True)
        if recipe.with_rootfs:
            _make_rootfs(context / "rootfs", busybox)
        for cgi in context.glob("www/cgi-bin/*"):
            cgi.chmod(0o755)  # a checkout may lose the exec bit; httpd needs it
        image, _ = client.images.build(
            path=str(context),
            tag=recipe.tag,
            labels={HASH_LABEL: digest},
            buildargs=dict(recipe.buildargs),
            rm=True,
            forcerm=True,
            pull=False,
        )
    log.info("built %s in %.2f s", recipe.tag, time.perf_counter() - started)
    return str(image.id)


def _existing_image(client: docker.DockerClient, tag: str) -> Any:
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _make_rootfs(rootfs: Path, busybox: Path) -> None:
    """rootfs/bin/busybox, a symlink per applet, and a sticky /tmp."""
    bin_dir = rootfs / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    (bin_dir / "busybox").chmod(0o755)
    for applet in _applets(busybox):
        if applet != "busybox":
            os.symlink("busybox", bin_dir / applet)
    (rootfs / "tmp").mkdir()
    (rootfs / "tmp").chmod(0o1777)


def _applets(busybox: Path) -> list[str]:
    out = subprocess.run(
        [str(busybox), "--list"], check=True, capture_output=True, text=True, timeout=10
    ).stdout
    return [name for name in out.split() if name and "/" not in name]


def _content_hash(source: Path, busybox: Path | None, parent_hash: str) -> str:
    """sha256 over the example files (path, mode, bytes), busybox, and the base's hash."""
    h = hashlib.sha256(parent_hash.encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(source)).encode() + b"\0")
        h.update(path.read_bytes())
    if busybox is not None:
        h.update(busybox.read_bytes())
    return h.hexdigest()[:32]
