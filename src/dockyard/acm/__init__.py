"""Certificates for HTTPS listeners (the ACM subset): PEM/key validation (`pem.py`,
pure), key and certificate files (`files.py`), and ELB's SSL policies mapped to
HAProxy's TLS settings (`policies.py`, pure)."""
