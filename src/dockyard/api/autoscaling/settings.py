"""Server settings the Application Auto Scaling API reads (set once at start).

`TARGET_TRACKING_PERIOD_S`: the Period of the alarms target tracking creates. The
API model has no Period field; AWS uses 60 s. `dockyard server
--target-tracking-period SECONDS` changes it (tests use 10: high-resolution target
tracking).
"""

from __future__ import annotations

TARGET_TRACKING_PERIOD_S = 60
