"""Certificates for HTTPS listeners (the ACM subset): PEM/key validation (`pem.py`,
pure), private keys in the store (`keys.py`), the names of HAProxy's certificate files
(`files.py`), and ELB's SSL policies mapped to HAProxy's TLS settings (`policies.py`,
pure). See README.md."""
