"""Server-wide ELBv2 settings, set by the server at start-up.

BIND_ADDRESS is where HAProxy binds the listeners; a load balancer's DNSName is
this address, so clients reach `http://<DNSName>:<listener port>/` directly.
"""

from __future__ import annotations

BIND_ADDRESS = "127.0.0.1"
