"""Where HAProxy lives on disk and how the LB controller paces itself.

Unix socket paths are limited to 107 bytes; a deep data directory (a pytest
tmp_path, say) puts the sockets in a short directory under /tmp instead,
named after the run directory so a restarted server finds them again.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.lb.render import RenderSettings

SOCKET_PATH_MAX = 100


@dataclass(frozen=True)
class LbSettings:
    haproxy: str = "haproxy"
    run_dir: Path = Path(".dockyard/haproxy")
    bind_address: str = "127.0.0.1"
    interval_s: float = 0.5
    start_timeout_s: float = 10.0
    maxconn: int = 4096
    hard_stop_after_s: int = 300
    # TLS files written from the store (lb/tls_writer.py); None: <run_dir>/certs
    certs_dir: Path | None = None

    @property
    def tls_dir(self) -> Path:
        return self.run_dir / "certs" if self.certs_dir is None else self.certs_dir

    @property
    def config_path(self) -> Path:
        return self.run_dir / "haproxy.cfg"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "haproxy.pid"

    @property
    def state_path(self) -> Path:
        return self.run_dir / "server-state"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "haproxy.log"

    @property
    def cookie_key_path(self) -> Path:
        return self.run_dir / "cookie.key"

    @property
    def socket_dir(self) -> Path:
        run_dir = self.run_dir.resolve()
        if len(str(run_dir / "master.sock")) <= SOCKET_PATH_MAX:
            return run_dir
        digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"dockyard-haproxy-{digest}"

    @property
    def master_socket(self) -> Path:
        return self.socket_dir / "master.sock"

    @property
    def admin_socket(self) -> Path:
        return self.socket_dir / "admin.sock"

    def render_settings(self, cookie_secret: str) -> RenderSettings:
        return RenderSettings(
            bind_address=self.bind_address,
            admin_socket=self.admin_socket,
            state_file=self.state_path.resolve(),
            cookie_secret=cookie_secret,
            maxconn=self.maxconn,
            hard_stop_after_s=self.hard_stop_after_s,
            certs_dir=self.tls_dir.resolve(),
        )
