"""bench/lb.py's HTTPS baseline: the hand-written HAProxy TLS frontend binds with exactly the
TLS options Dockyard's renderer gives an HTTPS listener of the same SslPolicy (else the
benchmark's Dockyard / hand-written ratio would compare different TLS work), and the small
pure helpers the report reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dockyard.acm.policies import POLICIES
from dockyard.lb.render import RenderSettings, render_haproxy
from tests.unit.test_acm import ARN, https_model

# Loaded from its file: putting bench/ on sys.path would shadow names (api, metrics, ...).
_SPEC = importlib.util.spec_from_file_location(
    "bench_lb_tls", Path(__file__).resolve().parents[2] / "bench" / "_lb_tls.py"
)
assert _SPEC is not None and _SPEC.loader is not None
_lb_tls = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_lb_tls)


def tls_options(bind: str) -> list[str]:
    """The words of a bind line after its address and its `ssl crt <path>`."""
    words = bind.split()
    assert words[0] == "bind" and words[2:4] == ["ssl", "crt"], bind
    return words[5:]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_hand_written_frontend_binds_as_dockyard_does(name: str, tmp_path: Path) -> None:
    config = render_haproxy(https_model(name, ARN), RenderSettings(certs_dir=tmp_path))
    dockyard = _lb_tls.bind_line(config, 20443)
    hand = _lb_tls.tls_frontend(24443, tmp_path / "bench.pem", "containers", name)
    assert hand[0] == "frontend bench-tls"
    assert hand[2] == "    default_backend containers"
    assert tls_options(hand[1].strip()) == tls_options(dockyard)
    assert "alpn http/1.1" in hand[1]


def test_bind_line_shortens_certificate_paths_only() -> None:
    config = "frontend f\n    bind 127.0.0.1:443 ssl crt /x/y/a.pem alpn http/1.1\n"
    assert _lb_tls.bind_line(config, 443) == "bind 127.0.0.1:443 ssl crt a.pem alpn http/1.1"
    assert _lb_tls.bind_line(config, 444) == "(not found)"


def test_counter_delta() -> None:
    assert _lb_tls.counter_delta((10, 5, 1), (30, 9, 1)) == {"full": 20, "resumed": 4, "failed": 0}
    assert _lb_tls.counter_delta(None, (1, 2, 3)) is None


def test_unknown_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown SslPolicy"):
        _lb_tls.tls_frontend(24443, tmp_path / "bench.pem", "containers", "NoSuchPolicy")


def test_paired_slices_reports_the_median_of_slice_ratios() -> None:
    text = _lb_tls.paired_slices([90.0, 100.0, 300.0], [100.0, 100.0, 100.0])
    assert text == "median x1.00 over 3 slices (x0.90-x3.00)"
    assert _lb_tls.paired_slices([], []) == "-"
    assert _lb_tls.paired_slices([5.0], [0.0]) == "-"  # a slice that measured nothing
