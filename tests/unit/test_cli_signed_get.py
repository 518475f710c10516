"""`signed_get` (cli/client.py), the one GET of `dockyard status` and `dockyard task logs`:
an error answer is the API's error (exit 1), not "cannot reach" (exit 3)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from dockyard.cli.client import ApiError, UnreachableError, signed_get


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = {
            "/ok": (200, b'{"servers": []}'),
            "/denied": (403, b'{"__type": "InvalidSignatureException", "message": "bad"}'),
            "/plain": (500, b"not json"),
        }[self.path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_answers_and_errors(endpoint: str) -> None:
    with signed_get(endpoint, endpoint + "/ok", "us-east-1") as response:
        assert json.loads(response.read()) == {"servers": []}
    with pytest.raises(ApiError, match=r"\(InvalidSignatureException\): bad") as denied:
        signed_get(endpoint, endpoint + "/denied", "us-east-1")
    assert denied.value.exit_code == 1
    with pytest.raises(ApiError, match=r"\(HTTP500\)"):
        signed_get(endpoint, endpoint + "/plain", "us-east-1")


def test_no_server_is_unreachable() -> None:
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
    with pytest.raises(UnreachableError) as raised:
        signed_get(closed, closed + "/dockyard/servers", "us-east-1", timeout=5)
    assert raised.value.exit_code == 3
