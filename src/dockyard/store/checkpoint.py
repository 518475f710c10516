"""WAL checkpoints of the SQLite store in a thread of their own, off the event loop.

By default SQLite checkpoints from the connection that commits, once the WAL passes
1,000 pages: that commit then copies the WAL's pages into the database file and waits
for two fsyncs - on the server's event loop, where every write runs on SQLite
(store/offload.py). Measured (bench/README.md, issue 9): COMMIT was ~15-19 % of the
server in a scale-up, about half of it these checkpoints (py-spy, native frames).

`WalCheckpointer` moves them: the server's connections stop checkpointing
(`PRAGMA wal_autocheckpoint=0`) and one thread with its own connection runs
`PRAGMA wal_checkpoint(PASSIVE)`, which waits for no reader or writer; the sqlite3
module releases the GIL meanwhile, so the copy and the fsyncs overlap the loop's work.

The WAL must also start over, or it grows without bound (3.8 GB in a 100,000-task run
of a first version that checkpointed every 0.5 s): SQLite restarts it at the start of
a write transaction only when a checkpoint has copied all of it. A server commits
every few milliseconds, so one pass rarely ends caught up; the thread repeats PASSIVE
passes while each copies frames (each shorter than the last), so that one ends with
every frame copied and lets the next commit restart the WAL - which happens when
commits come in bursts with gaps (tests/unit/test_store_checkpoint.py), not under
strictly back-to-back commits. For those, the `RESTART` checkpoint once the WAL passes
`RESTART_PAGES` bounds it: writers wait (the event loop, for the few frames left and an
fsync) until it has restarted.

Durability is unchanged: a commit is in the WAL before it is acknowledged, and a
crash (kill -9) replays the WAL at the next open, checkpointed or not. `stop()` ends
the thread after one last pass.
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
CATCH_UP_PASSES = 8  # PASSIVE passes per round while frames are left to copy
RESTART_PAGES = 32768  # 128 MiB of 4 KiB pages: past this the WAL is restarted by force


class WalCheckpointer:
    """One thread checkpointing the WAL of the SQLite database at `path`."""

    def __init__(self, path: str | Path, interval_s: float = INTERVAL_S) -> None:
        self.path = str(path)
        self.interval_s = interval_s
        self.passes = 0  # checkpoints run
        self.restarts = 0  # RESTART checkpoints run (the WAL outgrew RESTART_PAGES)
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
                self._catch_up(db)
                if stopping:
                    return
        finally:
            db.close()

    def _catch_up(self, db: sqlite3.Connection) -> None:
        """PASSIVE passes until one leaves nothing to copy (at most CATCH_UP_PASSES),
        then a RESTART when the WAL still holds more than RESTART_PAGES."""
        last = None
        for _ in range(CATCH_UP_PASSES):
            last = self._checkpoint(db, "PASSIVE")
            if last is None or last[1] == last[2]:
                break
        if last is not None and last[1] > RESTART_PAGES:
            self.restarts += 1
            self._checkpoint(db, "RESTART")

    def _checkpoint(self, db: sqlite3.Connection, mode: str) -> tuple[int, int, int] | None:
        try:
            row = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as error:  # e.g. the file is gone (a test's data dir): retry
            log.warning("WAL checkpoint of %s failed: %s", self.path, error)
            return None
        busy, frames, copied = (int(v) for v in row)
        self.last = (busy, frames, copied)
        self.passes += 1
        return self.last
