"""The HAProxy socket clients: parsers on captured HAProxy 2.6 output, commands on a fake socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.lb.runtime_api import MasterCli, RuntimeApi, RuntimeApiError, parse_proc, parse_stat

# `show stat -1 6 -1` from HAProxy 2.6.12: one server DOWN (refused), one going down, the backend.
SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n"
    "b,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,2,1,0,0,,1,3,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,3,2,0,,,,127.0.0.1:21001,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
    "b,s4,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,1,0,15,0,,1,3,3,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,3,2,3,,,,127.0.0.1:21002,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
    "b,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,1,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,1,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,5,5,0,0,0,0,\n"
)

SHOW_PROC = """#<PID>          <type>          <reloads>       <uptime>        <version>
7208            master          2 [failed: 1]   0d00h00m03s     2.6.12-1+deb12u4
# workers
7388            worker          0               0d00h00m01s     2.6.12-1+deb12u4
7209            worker          1               0d00h00m03s     2.6.12-1+deb12u4
# programs
"""


def test_parse_stat_servers_and_backends() -> None:
    stats = parse_stat(SHOW_STAT)
    assert stats.backends == frozenset({"b"})
    down, going = stats.servers
    assert (down.server, down.status, down.check_status, down.check_failures) == (
        "s1",
        "DOWN",
        "L4CON",
        2,
    )
    assert down.address == "127.0.0.1:21001" and not down.up
    assert (going.status, going.up) == ("UP 1/2", True)
    assert set(stats.by_ref()) == {("b", "s1"), ("b", "s4")}


def test_parse_stat_strips_the_in_progress_mark() -> None:
    text = SHOW_STAT.replace(",L4CON,", ",* L7OK,", 1)
    assert parse_stat(text).servers[0].check_status == "L7OK"


def test_parse_proc() -> None:
    procs = parse_proc(SHOW_PROC)
    assert (procs.reloads, procs.failed, procs.current) == (2, 1, [7388])


class FakeSocket:
    """A unix socket that answers each line from a script and records what it got."""

    def __init__(self, path: Path, answers: dict[str, str]) -> None:
        self.path = path
        self.answers = answers
        self.received: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        self.received.append(line)
        writer.write(self.answers.get(line.split(" ", 1)[0], "").encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeSocket]:
    fake = FakeSocket(tmp_path / "admin.sock", {})
    server = await asyncio.start_unix_server(fake.handle, str(fake.path))
    async with server:
        yield fake


async def test_add_server_is_one_line_that_ends_down(fake: FakeSocket) -> None:
    fake.answers["add"] = "New server registered.\n\n\n\n"
    api = RuntimeApi(fake.path)
    await api.add_server("tg-a", "t-1", "127.0.0.2:20001", "check inter 5s", up=False, cookie=True)
    assert fake.received == [
        "add server tg-a/t-1 127.0.0.2:20001 check inter 5s; enable health tg-a/t-1; "
        "enable server tg-a/t-1; set server tg-a/t-1 health down; enable dynamic-cookie backend tg-a"
    ]


async def test_refusals_raise(fake: FakeSocket) -> None:
    fake.answers["add"] = "Already exists a server with the same name in backend.\n"
    fake.answers["set"] = "Only servers in maintenance mode can be deleted.\n"
    api = RuntimeApi(fake.path)
    with pytest.raises(RuntimeApiError, match="Already exists"):
        await api.add_server("b", "s", "127.0.0.2:1", "check", up=True, cookie=False)
    with pytest.raises(RuntimeApiError, match="maintenance"):
        await api.remove_server("b", "s")
    with pytest.raises(RuntimeApiError, match="maintenance"):
        await api.set_state("b", "s", "drain")


async def test_a_dead_socket_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeApiError):
        await MasterCli(tmp_path / "none.sock", timeout=1).processes()
