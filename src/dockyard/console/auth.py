"""Console sessions and CSRF tokens: signed cookies, no server-side session table.

A session cookie is `base64url(json{k: access key id, e: expiry, n: nonce}).hmac`,
signed with a per-server secret kept in the data dir (mode 0600), so it survives
a restart and cannot be forged without that file. The CSRF token of a session is
`HMAC(secret, "csrf:" + nonce)`: a page from another origin can make the browser
send the cookie but cannot read the token, which every mutating request must
carry (form field or `X-CSRF-Token` header). Without --credentials (loopback
only) there is no login, but mutations still carry the token of the anonymous
session, which keeps other web sites from posting to a console on localhost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COOKIE = "dockyard_console"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600.0
SECRET_FILE = "console-secret"
ANONYMOUS_NONCE = "anonymous"


@dataclass(frozen=True)
class Session:
    access_key: str | None  # None: the server has no credentials (no login)
    expires: float
    nonce: str


def load_secret(data_dir: Path) -> bytes:
    """The signing secret of this server, created on first use, readable by its owner only."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        text = path.read_text().strip()
        if len(text) >= 64:
            return bytes.fromhex(text)
        raise ValueError(f"{path} is not a console secret; remove it to make a new one") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def sign_session(secret: bytes, access_key: str, now: float, ttl: float = SESSION_TTL_S) -> str:
    body = json.dumps({"k": access_key, "e": round(now + ttl), "n": secrets.token_hex(16)})
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


def read_session(
    secret: bytes, cookie: str | None, now: float, credentials: Mapping[str, str]
) -> Session | None:
    """The session a cookie proves, or None (unsigned, expired, or its key was removed)."""
    if not cookie or "." not in cookie:
        return None
    payload, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = Session(str(doc["k"]), float(doc["e"]), str(doc["n"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if session.expires <= now or session.access_key not in credentials:
        return None
    return session


def anonymous() -> Session:
    return Session(None, float("inf"), ANONYMOUS_NONCE)


def csrf_token(secret: bytes, session: Session) -> str:
    return _mac(secret, "csrf:" + session.nonce)


def csrf_ok(secret: bytes, session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(str(token), csrf_token(secret, session))


def check_login(credentials: Mapping[str, str], access_key: str, secret_key: str) -> bool:
    """Compare in constant time; an unknown key costs the same as a wrong secret."""
    known = credentials.get(access_key)
    expected = known if known is not None else secrets.token_hex(16)
    return hmac.compare_digest(expected.encode(), secret_key.encode()) and known is not None


def safe_next(target: str | None, prefix: str) -> str:
    """Where to go after login: only a path inside the console (no open redirect)."""
    if target and target.startswith(prefix + "/") and not target.startswith("//"):
        return target
    return prefix + "/"
