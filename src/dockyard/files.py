"""Atomic file writes: a temporary file beside the target, fsync, then a rename.

A reader (HAProxy loading a config, a certificate, a key, a CA bundle or a CRL) sees
the old file or the new one, never half of either. The mode is set on the open file
(`fchmod`: umask does not apply, and a leftover temporary file keeps no old mode), so
a private key is 0600 from its first byte. Used by `acm.files` (certificates),
`elbv2.trust_store_files` (trust stores) and `lb.haproxy` (config, server state).
Lowest layer: imports nothing of Dockyard.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Write `content` (text as UTF-8) to `path` with `mode`, replacing it atomically."""
    data = content.encode() if isinstance(content, str) else content
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
