"""WAL checkpoints of the SQLite store in a thread of their own, off the event loop.

By default SQLite checkpoints from the connection that commits, once the WAL passes
1,000 pages: that commit then copies the WAL's pages into the database file and, with
synchronous=NORMAL, waits for two fsyncs - on the server's event loop, where every
write runs on SQLite (store/offload.py). Measured (bench/README.md, issue 9): at
1,000 instances x 100,000 tasks the server waited ~20 % of its time in COMMIT, and
the scale-up ran 23 % faster with syncing off.

`WalCheckpointer` keeps the durability and moves the wait: the server's connections
stop checkpointing (`PRAGMA wal_autocheckpoint=0`) and one thread with its own
connection runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval_s`. A PASSIVE
checkpoint waits for no reader or writer; the sqlite3 module releases the GIL while
it runs, so the copy and the fsyncs overlap the event loop's work. Commits keep
appending to the WAL meanwhile; once a checkpoint has copied all of it, the next
writer starts the WAL over from its beginning (SQLite's own rule), so the file does
not grow without bound while the thread keeps up.

Durability is unchanged: a commit is in the WAL before it is acknowledged, and a
crash (kill -9) replays the WAL at the next open, checkpointed or not. `stop()` ends
the thread after one last checkpoint; the last connection's close checkpoints too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# seconds between checkpoints; DOCKYARD_SQLITE_CHECKPOINT_S=0 leaves them to SQLite (in
# the committing connection, every 1,000 pages: its default, for comparison)
INTERVAL_S = float(os.environ.get("DOCKYARD_SQLITE_CHECKPOINT_S", "0.5") or 0.5)


class WalCheckpointer:
    """One thread checkpointing the WAL of the SQLite database at `path`."""

    def __init__(self, path: str | Path, interval_s: float = INTERVAL_S) -> None:
        self.path = str(path)
        self.interval_s = interval_s
        self.passes = 0  # checkpoints run
        # the last one's (busy, frames in the WAL, frames of it copied into the database)
        self.last: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            while True:
                stopping = self._stop.wait(self.interval_s)
                self._checkpoint(db)
                if stopping:
                    return
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:  # e.g. the file is gone (a test's data dir): retry
            log.warning("WAL checkpoint of %s failed: %s", self.path, error)
            return
        busy, frames, copied = (int(v) for v in row)
        self.last = (busy, frames, copied)
        self.passes += 1
