"""Every Docker timeout the agent uses, in one place, each with its reason.

`runtime_docker.DockerRuntime` wraps each engine call in `asyncio.wait_for(deadline)`
and raises `DockerTimeoutError` past it. The blocking call keeps its worker thread
until the engine answers or the SDK's socket timeout (`API_SOCKET_TIMEOUT_S`) fires,
so that socket timeout is set above every deadline: our deadline is what decides.

Measured on this kind of host (dockerd 20.10, overlay2, 2 CPUs, load 3-5 from other
tests): `run` (create + start + inspect, one published port) p50 0.33-0.52 s, inspect
2 ms, stop of a process that handles SIGTERM ~0.2 s (one that ignores it: t + ~0.2 s),
force remove ~50 ms. The deadlines are far above those numbers on purpose: they catch
a wedged engine, not a slow one.
"""

from __future__ import annotations

# Connecting to the engine's unix socket is local: a slow connect means a wedged dockerd.
CONNECT_PROBE_TIMEOUT_S = 5.0
# Image present? (GET /images/{name}/json) is a local lookup: slow only if dockerd is wedged.
IMAGE_INSPECT_TIMEOUT_S = 30.0
# A pull downloads layers; big images on slow links take minutes. Past this, the task fails
# with CannotPullContainerError and the scheduler may place it elsewhere.
PULL_TIMEOUT_S = 600.0
# Create prepares the writable layer and network endpoint; on a host with hundreds of
# containers and a busy disk it has been seen to take tens of seconds (ECS allows 4 min).
CREATE_TIMEOUT_S = 240.0
# Start runs runc, sets up the netns and starts docker-proxy per published port
# (ECS allows 3 min).
START_TIMEOUT_S = 180.0
# `docker stop -t N` answers after up to N s (SIGTERM, wait, SIGKILL); this is the slack on
# top of N for SIGKILL delivery and cgroup teardown on a loaded host.
STOP_GRACE_S = 30.0
# Inspect and list read daemon memory; the agent's reconcile loop calls them often and must
# not hang on a wedged engine.
INSPECT_TIMEOUT_S = 30.0
LIST_TIMEOUT_S = 60.0
# Force-remove deletes the writable layer (can be GBs of files) and anonymous volumes.
REMOVE_TIMEOUT_S = 300.0
# Logs without follow read the whole json-file log; with follow there is no deadline.
LOGS_TIMEOUT_S = 60.0
# `docker info` (the engine's CPU count, read once) walks daemon state; slow only if wedged.
INFO_TIMEOUT_S = 30.0
# Building the awsvpc network owner ("pause") image at agent start: a 2 MB context, one
# COPY layer, no pull (agent/pause_image.py); measured ~1 s, slow only on a wedged engine.
BUILD_TIMEOUT_S = 120.0
# The SDK's per-read socket timeout: above every deadline above, so our deadline decides and
# a stuck call still frees its thread eventually. Streams (events, follow logs, pull) have
# none: they may be quiet for hours.
API_SOCKET_TIMEOUT_S = REMOVE_TIMEOUT_S + 60.0
# The events stream breaks when dockerd restarts; reconnect with backoff (replaying from the
# last event's time, so nothing is lost while the engine is back within its event buffer).
EVENTS_RECONNECT_MIN_S = 0.2
EVENTS_RECONNECT_MAX_S = 10.0
# close() waits this long for the events and log threads after closing their sockets.
THREAD_JOIN_TIMEOUT_S = 5.0
# Worker threads for blocking SDK calls (and HTTP connections kept in the pool). Not the
# loop's default executor: that has min(32, cpus + 4) = 6 workers on a 2-CPU host, and a
# few `stop -t 30` calls would hold them all, stalling every other Docker call for 30 s.
DOCKER_CALL_WORKERS = 32
