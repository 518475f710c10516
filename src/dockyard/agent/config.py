"""Agent configuration: flags, an ECS-style env file, and the ECS agent's defaults.

Precedence: command-line flag > `--config` file > environment default. The env
file speaks the ECS agent's keys (as in the seed's ecs-bootstrap file):

    ECS_CLUSTER=stage01
    ECS_INSTANCE_ATTRIBUTES={"stack": "prod"}
    ECS_RESERVED_MEMORY=256            # MiB kept back from MEMORY
    ECS_RESERVED_PORTS=[22, 2375, 2376, 51678, 51679]
    ECS_RESERVED_PORTS_UDP=[]
    ECS_DYNAMIC_HOST_PORT_RANGE=49153-65535
    ECS_CONTAINER_STOP_TIMEOUT=30s
    ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=3h
    ECS_AVAILABILITY_ZONE=az-1         # Dockyard: there is no EC2 metadata to ask
    ECS_CAPACITY_PROVIDER=spot         # Dockyard: the capacity provider this host is in
    DOCKYARD_ENDPOINT=http://127.0.0.1:8080
    DOCKYARD_HOST_IP=127.0.1.1
    DOCKYARD_METADATA_PORT=0           # task metadata endpoint port (0: free, kept)
    ECS_AWSVPC_POOL=127.0.2.0/24       # Dockyard: one address per awsvpc task (agent/awsvpc.py)
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.agent.awsvpc import pool_network, pool_size

DEFAULT_RESERVED_PORTS = (22, 2375, 2376, 51678, 51679)
DEFAULT_DYNAMIC_RANGE = (49153, 65535)
DEFAULT_STOP_TIMEOUT_S = 30.0
DEFAULT_CLEANUP_WAIT_S = 3 * 3600.0
CAPACITY_PROVIDER_ATTRIBUTE = "ecs.capacity-provider-name"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


class ConfigError(ValueError):
    """The agent cannot start with this configuration."""


def parse_duration(text: str) -> float:
    """Go-style durations as the ECS agent reads them: 30s, 2m, 3h, 500ms, or seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 30s, 2m, 3h")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def parse_range(text: str) -> tuple[int, int]:
    low, sep, high = text.strip().partition("-")
    if not sep or not low.isdigit() or not high.isdigit() or not 0 < int(low) <= int(high) <= 65535:
        raise ConfigError(f"invalid port range {text!r}: use e.g. 49153-65535")
    return int(low), int(high)


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def kernel_port_range() -> tuple[int, int] | None:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return None


def total_memory_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ConfigError("cannot read MemTotal from /proc/meminfo")


def cpu_architecture() -> str:
    machine = platform.machine().lower()
    return {"aarch64": "arm64", "amd64": "x86_64"}.get(machine, machine)


def awsvpc_pool_size(cidr: str) -> int:
    try:
        return pool_size(pool_network(cidr))
    except ValueError as exc:
        raise ConfigError(f"invalid awsvpc pool {cidr!r}: {exc}") from None


@dataclass
class AgentConfig:
    endpoint: str
    cluster: str = "default"
    host_ip: str = "127.0.0.1"
    cpu: int = 0
    memory: int = 0
    reserved_ports: tuple[int, ...] = DEFAULT_RESERVED_PORTS
    reserved_ports_udp: tuple[int, ...] = ()
    dynamic_port_range: tuple[int, int] = DEFAULT_DYNAMIC_RANGE
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    cleanup_wait_s: float = DEFAULT_CLEANUP_WAIT_S
    availability_zone: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    data_dir: Path = Path(".dockyard-agent")
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    fake_runtime: bool = False
    metadata_port: int = 0  # task metadata endpoint (agent/metadata.py); 0: a free port
    awsvpc_pool: str | None = None  # CIDR of the addresses awsvpc tasks get (agent/awsvpc.py)
    # Every server this agent may use (`--endpoint` repeated, or DOCKYARD_ENDPOINT with
    # commas): several servers on one PostgreSQL. `endpoint` is the one in use.
    endpoints: tuple[str, ...] = ()

    def rotate_endpoint(self) -> str:
        """Move on to the next server (the one in use did not answer); the new endpoint."""
        if len(self.endpoints) > 1:
            index = self.endpoints.index(self.endpoint) if self.endpoint in self.endpoints else -1
            self.endpoint = self.endpoints[(index + 1) % len(self.endpoints)]
        return self.endpoint

    def agent_attributes(self) -> list[dict[str, str]]:
        """What the agent registers: ECS's own attributes, then the custom ones."""
        attributes = {
            "ecs.os-type": "linux",
            "ecs.cpu-architecture": cpu_architecture(),
            "ecs.capability.container-health-check": "",
            "com.amazonaws.ecs.capability.docker-remote-api.1.17": "",
            "com.amazonaws.ecs.capability.docker-remote-api.1.18": "",
            "com.amazonaws.ecs.capability.docker-remote-api.1.24": "",
            "dockyard.dynamic-port-range": "{}-{}".format(*self.dynamic_port_range),
            "dockyard.host-ip": self.host_ip,
        }
        if self.availability_zone:
            attributes["ecs.availability-zone"] = self.availability_zone
        if self.awsvpc_pool:  # ECS's awsvpc capability; the pool size bounds awsvpc tasks
            attributes["ecs.capability.task-eni"] = ""
            attributes["dockyard.awsvpc-pool-size"] = str(awsvpc_pool_size(self.awsvpc_pool))
        attributes.update(self.attributes)
        return [
            {"name": name, "value": value} if value else {"name": name}
            for name, value in attributes.items()
        ]


def split_endpoints(value: Any) -> tuple[str, ...]:
    """Endpoints from a repeated flag (a tuple) or a string (commas or spaces between)."""
    items = [value] if isinstance(value, str) else list(value or ())
    out: list[str] = []
    for item in items:
        for part in str(item).replace(",", " ").split():
            if part.rstrip("/") not in out:
                out.append(part.rstrip("/"))
    return tuple(out)


def build_config(
    flags: dict[str, Any], config_file: Path | None, environ: dict[str, str] | None = None
) -> AgentConfig:
    """Merge flags (None = not given) over the env file over defaults."""
    env = read_env_file(config_file) if config_file else {}
    environ = dict(os.environ if environ is None else environ)

    def pick(flag: str, key: str) -> Any:
        value = flags.get(flag)
        return value if value not in (None, (), []) else env.get(key)

    endpoint = pick("endpoint", "DOCKYARD_ENDPOINT") or environ.get("DOCKYARD_ENDPOINT")
    endpoints = split_endpoints(endpoint)
    if not endpoints:
        raise ConfigError("no endpoint: give --endpoint or DOCKYARD_ENDPOINT in --config")
    attributes: dict[str, str] = {}
    if env.get("ECS_INSTANCE_ATTRIBUTES"):
        try:
            loaded = json.loads(env["ECS_INSTANCE_ATTRIBUTES"])
        except ValueError as exc:
            raise ConfigError(f"ECS_INSTANCE_ATTRIBUTES is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("ECS_INSTANCE_ATTRIBUTES must be a JSON object")
        attributes.update({str(k): str(v) for k, v in loaded.items()})
    for item in flags.get("attribute") or ():
        key, sep, value = item.partition("=")
        if not key:
            raise ConfigError(f"--attribute {item!r}: expected key=value")
        attributes[key] = value if sep else ""
    provider = pick("capacity_provider", "ECS_CAPACITY_PROVIDER")
    if provider:  # membership of a capacity provider (server: tasks/provider_placement.py)
        attributes[CAPACITY_PROVIDER_ATTRIBUTE] = str(provider)
    reserved_memory = int(env.get("ECS_RESERVED_MEMORY", "0") or 0)
    memory = pick("memory", "DOCKYARD_MEMORY")
    memory = int(memory) if memory else total_memory_mib() - reserved_memory
    cpu = pick("cpu", "DOCKYARD_CPU")
    cpu = int(cpu) if cpu else (os.cpu_count() or 1) * 1024
    port_range = pick("dynamic_port_range", "ECS_DYNAMIC_HOST_PORT_RANGE")
    if port_range:
        dynamic = parse_range(port_range)
    else:
        dynamic = DEFAULT_DYNAMIC_RANGE
    stop_timeout = pick("stop_timeout", "ECS_CONTAINER_STOP_TIMEOUT")
    cleanup = pick("cleanup_wait", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION")
    reserved = json.loads(env["ECS_RESERVED_PORTS"]) if "ECS_RESERVED_PORTS" in env else None
    reserved_udp = json.loads(env.get("ECS_RESERVED_PORTS_UDP", "[]"))
    config = AgentConfig(
        endpoint=endpoints[0],
        endpoints=endpoints,
        cluster=pick("cluster", "ECS_CLUSTER") or "default",
        host_ip=pick("host_ip", "DOCKYARD_HOST_IP") or "127.0.0.1",
        cpu=cpu,
        memory=memory,
        reserved_ports=tuple(int(p) for p in reserved)
        if reserved is not None
        else DEFAULT_RESERVED_PORTS,
        reserved_ports_udp=tuple(int(p) for p in reserved_udp),
        dynamic_port_range=dynamic,
        stop_timeout_s=parse_duration(str(stop_timeout))
        if stop_timeout
        else DEFAULT_STOP_TIMEOUT_S,
        cleanup_wait_s=parse_duration(str(cleanup)) if cleanup else DEFAULT_CLEANUP_WAIT_S,
        availability_zone=pick("availability_zone", "ECS_AVAILABILITY_ZONE"),
        attributes=attributes,
        data_dir=Path(pick("data_dir", "ECS_DATADIR") or ".dockyard-agent"),
        access_key_id=flags.get("access_key_id") or environ.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=flags.get("secret_access_key") or environ.get("AWS_SECRET_ACCESS_KEY"),
        region=flags.get("region") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        fake_runtime=bool(flags.get("fake_runtime")),
        metadata_port=int(pick("metadata_port", "DOCKYARD_METADATA_PORT") or 0),
        awsvpc_pool=pick("awsvpc_pool", "ECS_AWSVPC_POOL") or None,
    )
    if config.awsvpc_pool:
        awsvpc_pool_size(config.awsvpc_pool)  # refuse a bad CIDR at start
    if config.cpu <= 0 or config.memory <= 0:
        raise ConfigError("CPU and MEMORY must be positive")
    return config
