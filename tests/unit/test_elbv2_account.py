"""ELB's account quotas as Dockyard enforces them, the network fields of a LoadBalancer
answer, and listener attribute tables (in process, real handlers on a SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.api.elbv2 import account, listener_attributes, network_settings
from dockyard.api.elbv2.load_balancers import create_load_balancer
from dockyard.api.elbv2.target_groups import create_target_group
from dockyard.context import ApiContext
from dockyard.elbv2.errors import TooManyLoadBalancers, TooManyTargetGroups, ValidationError
from dockyard.store import Kind, open_store
from dockyard.store.sql import SqlStore, sqlite_url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(sqlite_url(tmp_path))
    yield opened
    opened.close()


def test_target_group_quota_refuses_the_next_and_writes_nothing(store: SqlStore) -> None:
    with store.transaction() as tx:
        for index in range(account.MAX_TARGET_GROUPS):
            arn = f"arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/g{index}/0"
            tx.insert(Kind.TARGET_GROUP, arn, {"TargetGroupArn": arn}, name=f"g{index}")
    ctx = ApiContext(store=store)
    with pytest.raises(TooManyTargetGroups):
        create_target_group(ctx, {"Name": "one-more", "Protocol": "HTTP", "Port": 80})
    with store.read() as tx:
        assert tx.count(Kind.TARGET_GROUP) == account.MAX_TARGET_GROUPS


def test_load_balancer_quota_counts_each_type(store: SqlStore) -> None:
    with store.transaction() as tx:
        for index in range(account.MAX_LOAD_BALANCERS):
            arn = f"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/net/n{index}/0"
            tx.insert(
                Kind.LOAD_BALANCER, arn, {"Type": "network"}, name=f"n{index}", status="active"
            )
    ctx = ApiContext(store=store)
    created = create_load_balancer(ctx, {"Name": "web"})["LoadBalancers"][0]
    assert created["State"] == {"Code": "provisioning"}
    with store.transaction() as tx:
        with pytest.raises(TooManyLoadBalancers):
            account.check_load_balancer_quota(tx, "network")
        account.check_load_balancer_quota(tx, "application")


def test_limits_are_the_enforced_constants() -> None:
    from dockyard.api.elbv2 import listeners, rules, targets

    limits = account.LIMITS
    assert limits["listeners-per-application-load-balancer"] == listeners.MAX_LISTENERS == 50
    assert limits["rules-per-application-load-balancer"] == rules.MAX_RULES == 100
    assert limits["targets-per-target-group"] == targets.MAX_TARGETS == 1000
    answer = account.describe_account_limits(ApiContext(store=None), {})  # type: ignore[arg-type]
    assert [item["Name"] for item in answer["Limits"]] == sorted(limits)
    assert "NextMarker" not in answer


@pytest.mark.parametrize(
    ("region", "lb_type", "zone"),
    [
        pytest.param("us-east-1", "application", "Z35SXDOTRQ7X7K", id="alb-us-east-1"),
        pytest.param("eu-west-1", "network", "Z2IFOLAFXWLO4F", id="nlb-eu-west-1"),
        pytest.param("local", "application", "Z35SXDOTRQ7X7K", id="unknown-region"),
    ],
)
def test_presented_fills_elb_fields(region: str, lb_type: str, zone: str) -> None:
    arn = f"arn:aws:elasticloadbalancing:{region}:000000000000:loadbalancer/app/x/0"
    shown = network_settings.presented({"LoadBalancerArn": arn, "Type": lb_type})
    assert shown["CanonicalHostedZoneId"] == zone
    assert shown["IpAddressType"] == "ipv4"
    assert shown["AvailabilityZones"] == [{"ZoneName": region + "a"}]
    assert ("SecurityGroups" in shown) == (lb_type == "application")


@pytest.mark.parametrize(
    ("protocol", "key", "value", "ok"),
    [
        pytest.param("HTTP", "routing.http.response.server.enabled", "false", True, id="server"),
        pytest.param(
            "HTTPS",
            "routing.http.response.x_frame_options.header_value",
            "ALLOW-FROM https://a.test",
            True,
            id="frame-allow-from",
        ),
        pytest.param(
            "HTTP",
            "routing.http.response.access_control_allow_methods.header_value",
            "GET,POST",
            True,
            id="methods",
        ),
        pytest.param(
            "HTTP",
            "routing.http.response.access_control_allow_methods.header_value",
            "GET,FETCH",
            False,
            id="bad-method",
        ),
        pytest.param(
            "HTTP",
            "routing.http.response.access_control_max_age.header_value",
            "86401",
            False,
            id="max-age-too-long",
        ),
        pytest.param(
            "HTTP",
            "routing.http.request.x_amzn_tls_version.header_name",
            "X Tls",
            False,
            id="header-name-space",
        ),
        pytest.param("TCP", "tcp.idle_timeout.seconds", "6000", True, id="tcp-idle"),
        pytest.param("TCP", "tcp.idle_timeout.seconds", "59", False, id="tcp-idle-low"),
        pytest.param("TLS", "routing.http.response.server.enabled", "true", False, id="alb-on-nlb"),
    ],
)
def test_listener_attribute_rules(protocol: str, key: str, value: str, ok: bool) -> None:
    from dockyard.api.elbv2 import attributes

    listener = {"Protocol": protocol}
    change = [{"Key": key, "Value": value}]

    def apply() -> list[dict[str, str]]:
        listener_attributes._check_keys(listener, change)
        return attributes.merged([], change, listener_attributes.table_for(listener))

    if ok:
        assert {"Key": key, "Value": value} in apply()
    else:
        with pytest.raises(ValidationError):
            apply()
