"""One server per data dir: an exclusive `flock` on `<data-dir>/server.lock`.

The data dir holds SQLite files (the store unless --store-url, metrics.db, logs.db),
certificate keys and HAProxy's run dir; two servers on it would corrupt each other's
work. The server takes the lock before it opens anything there and holds it for its
whole life. The kernel releases a `flock` when its holder dies, `kill -9` included, so a
restart after a crash never finds a stale lock. The file holds the holder's pid, named
in the refusal. The descriptor is not inherited by children (HAProxy): a surviving child
cannot keep a dead server's lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "server.lock"


class DataDirInUse(RuntimeError):
    """Another live process holds the data dir's lock."""


class DataDirLock:
    """The held lock; `release()` (or process exit) gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Take the data dir's lock or raise `DataDirInUse` naming the holder's pid."""
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataDirInUse(
            f"data dir {data_dir.resolve()} is in use by another dockyard server (pid {holder};"
            f" lock {path.resolve()}). Stop that server, or give this one another --data-dir."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(path, fd)
