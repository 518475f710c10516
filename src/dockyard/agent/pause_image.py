"""The network owner ("pause") image of awsvpc tasks, built on the agent's host at start.

No registry is reachable from a Dockyard host, and the owner must run on every host that
takes awsvpc tasks, whatever images the tasks bring. So the agent builds it itself when
it has an awsvpc pool: `FROM scratch` plus the host's static busybox (Debian's
busybox-static, /usr/bin/busybox: the same file the test and demo images are made of,
cli/images.py), whose shell sleeps until SIGTERM and then exits 0 (a stop takes
milliseconds, not the stop timeout). ~2 MB, built in about a second, and only when the
image with the same content hash (Dockerfile + busybox) is missing: a restart or a second
agent on the host reuses it.

If busybox is missing the agent still starts; its awsvpc tasks then fail with a
ResourceInitializationError that says how to fix it (agent/task_network.py).
Neighbours: agent/netns.py names the image; agent/main.py calls `ensure_pause_image`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

import docker
import docker.errors

from dockyard.agent.netns import PAUSE_IMAGE
from dockyard.agent.runtime_timeouts import BUILD_TIMEOUT_S

log = logging.getLogger(__name__)

DEFAULT_BUSYBOX = Path("/usr/bin/busybox")
HASH_LABEL = "com.dockyard.pause-image.hash"
DOCKERFILE = """\
# Dockyard's awsvpc network owner: holds a task's network namespace (agent/netns.py).
FROM scratch
COPY busybox /busybox
ENTRYPOINT ["/busybox", "sh", "-c", \
"trap 'exit 0' TERM INT; while :; do /busybox sleep 3600 & wait $!; done"]
"""


def content_hash(busybox: Path) -> str:
    """What the image is made of: the Dockerfile and the busybox binary."""
    digest = hashlib.sha256(DOCKERFILE.encode())
    digest.update(busybox.read_bytes())
    return digest.hexdigest()[:32]


def ensure_pause_image(client: docker.DockerClient, busybox: Path = DEFAULT_BUSYBOX) -> str:
    """Build PAUSE_IMAGE unless an up-to-date one exists; its id. Blocking (call it in a
    thread). FileNotFoundError without busybox; docker errors pass through."""
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} missing: apt-get install busybox-static")
    digest = content_hash(busybox)
    try:
        existing = client.images.get(PAUSE_IMAGE)
    except docker.errors.ImageNotFound:
        existing = None
    if existing is not None and (existing.labels or {}).get(HASH_LABEL) == digest:
        return str(existing.id)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dockyard-pause-") as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(DOCKERFILE)
        shutil.copy2(busybox, context / "busybox")
        (context / "busybox").chmod(0o755)
        image, _ = client.images.build(
            path=str(context),
            tag=PAUSE_IMAGE,
            labels={HASH_LABEL: digest},
            rm=True,
            forcerm=True,
            pull=False,
        )
    log.info("built %s in %.2f s", PAUSE_IMAGE, time.perf_counter() - started)
    return str(image.id)


async def prepare_pause_image(client: docker.DockerClient) -> None:
    """At agent start (with an awsvpc pool): build the image, or say why not. The agent
    runs on without it: only its awsvpc tasks fail, each with the reason."""
    try:
        image_id = await asyncio.wait_for(
            asyncio.to_thread(ensure_pause_image, client), BUILD_TIMEOUT_S
        )
    except (FileNotFoundError, docker.errors.DockerException, TimeoutError) as exc:
        log.error("cannot build the awsvpc network owner image %s: %s", PAUSE_IMAGE, exc)
        return
    log.info("awsvpc network owner image %s (%s)", PAUSE_IMAGE, image_id[:19])
