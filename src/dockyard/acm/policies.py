"""ELB's predefined SSL policies and the HAProxy bind options each one becomes.

Names, protocols and ciphers as ELB documents them (OpenSSL cipher names, which
HAProxy takes as they are). TLS 1.3 suites go to `ciphersuites`, the rest to
`ciphers`. Pure data; DescribeSSLPolicies and lb/render.py read it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"

TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
ECDHE_GCM = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
)
ECDHE_SHA256 = ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256")
ECDHE_SHA1_128 = ("ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA")
ECDHE_GCM_384 = ("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384")
ECDHE_SHA384 = ("ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384")
ECDHE_SHA1_256 = ("ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA")
RSA_128 = ("AES128-GCM-SHA256", "AES128-SHA256")
RSA_128_SHA1 = ("AES128-SHA",)
RSA_256 = ("AES256-GCM-SHA384", "AES256-SHA256")
RSA_256_SHA1 = ("AES256-SHA",)

# HAProxy's names for the versions (`ssl-min-ver` / `ssl-max-ver`), by ELB's names.
HAPROXY_VERSION = {
    "TLSv1": "TLSv1.0",
    "TLSv1.1": "TLSv1.1",
    "TLSv1.2": "TLSv1.2",
    "TLSv1.3": "TLSv1.3",
}


@dataclass(frozen=True)
class SslPolicy:
    name: str
    protocols: tuple[str, ...]  # ELB's names, oldest first
    ciphers: tuple[str, ...]  # TLS 1.3 suites first when the policy has TLS 1.3

    @property
    def tls12_ciphers(self) -> tuple[str, ...]:
        return tuple(c for c in self.ciphers if not c.startswith("TLS_"))

    @property
    def tls13_suites(self) -> tuple[str, ...]:
        return tuple(c for c in self.ciphers if c.startswith("TLS_"))

    def haproxy_options(self) -> str:
        """`ssl-min-ver .. ssl-max-ver .. [ciphers ..] [ciphersuites ..]` for a bind line."""
        options = [
            f"ssl-min-ver {HAPROXY_VERSION[self.protocols[0]]}",
            f"ssl-max-ver {HAPROXY_VERSION[self.protocols[-1]]}",
        ]
        if self.tls12_ciphers:
            options.append("ciphers " + ":".join(self.tls12_ciphers))
        if self.tls13_suites:
            options.append("ciphersuites " + ":".join(self.tls13_suites))
        return " ".join(options)

    def describe(self) -> dict[str, object]:
        """DescribeSSLPolicies' SslPolicy shape."""
        return {
            "Name": self.name,
            "SslProtocols": list(reversed(self.protocols)),
            "Ciphers": [{"Name": c, "Priority": i} for i, c in enumerate(self.ciphers, 1)],
            "SupportedLoadBalancerTypes": ["application", "network"],
        }


_CLASSIC = (
    *ECDHE_GCM, *ECDHE_SHA256, *ECDHE_SHA1_128, *ECDHE_GCM_384, *ECDHE_SHA384,
    *ECDHE_SHA1_256, *RSA_128, *RSA_128_SHA1, *RSA_256, *RSA_256_SHA1,
)  # fmt: skip
_TLS12 = (*ECDHE_GCM, *ECDHE_SHA256, *ECDHE_GCM_384, *ECDHE_SHA384, *RSA_128, *RSA_256)
_TLS12_RES = (*ECDHE_GCM, *ECDHE_SHA256, *ECDHE_GCM_384, *ECDHE_SHA384)

POLICIES: dict[str, SslPolicy] = {
    p.name: p
    for p in (
        SslPolicy("ELBSecurityPolicy-2016-08", ("TLSv1", "TLSv1.1", "TLSv1.2"), _CLASSIC),
        SslPolicy("ELBSecurityPolicy-TLS-1-0-2015-04", ("TLSv1", "TLSv1.1", "TLSv1.2"), _CLASSIC),
        SslPolicy("ELBSecurityPolicy-TLS-1-1-2017-01", ("TLSv1.1", "TLSv1.2"), _CLASSIC),
        SslPolicy("ELBSecurityPolicy-TLS-1-2-2017-01", ("TLSv1.2",), _TLS12),
        SslPolicy("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", ("TLSv1.2",), _CLASSIC),
        SslPolicy(
            "ELBSecurityPolicy-FS-1-2-Res-2020-10", ("TLSv1.2",), (*ECDHE_GCM, *ECDHE_GCM_384)
        ),
        SslPolicy(
            "ELBSecurityPolicy-TLS13-1-2-2021-06", ("TLSv1.2", "TLSv1.3"), (*TLS13_SUITES, *_TLS12)
        ),
        SslPolicy(
            "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
            ("TLSv1.2", "TLSv1.3"),
            (*TLS13_SUITES, *_TLS12_RES),
        ),
        SslPolicy(
            "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
            ("TLSv1.2", "TLSv1.3"),
            (
                *TLS13_SUITES,
                *_TLS12,
                *ECDHE_SHA1_128,
                *ECDHE_SHA1_256,
                *RSA_128_SHA1,
                *RSA_256_SHA1,
            ),
        ),
        SslPolicy("ELBSecurityPolicy-TLS13-1-3-2021-06", ("TLSv1.3",), TLS13_SUITES),
    )
}


def policy(name: str | None) -> SslPolicy | None:
    """The policy of that name (the default when None); None when unknown."""
    return POLICIES.get(name or DEFAULT_POLICY)
