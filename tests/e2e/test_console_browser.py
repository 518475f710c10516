"""The web console in a real headless browser (Debian's chromium + chromedriver, selenium)
against a real server and agent running real Docker tasks: what a person sees, the
scale-out button, a task's logs that follow, screenshots under test-artifacts/, and
--credentials (login, CSRF)."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AgentProcess, ServerProcess, remove_task_containers, wait_for

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium/chromedriver missing: scripts/setup installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dockyard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def text_of(driver: Any, selector: str) -> str:
    """The first match's text; "" when none (or the page is being replaced)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        found = css(driver, selector)
        return str(found[0].text) if found else ""
    except StaleElementReferenceException:
        return ""


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


@pytest.fixture
def cluster(tmp_path: Path, server: ServerProcess, docker_images: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:  # fmt: skip
    monkeypatch.setenv("DOCKYARD_METRICS_INTERVAL", "1")
    ecs = server.client()
    ecs.create_cluster(clusterName="console01")
    agent = AgentProcess(server.endpoint, tmp_path / "agent", "127.0.1.41", cluster="console01",
                         extra_args=["--stop-timeout", "1s"])  # fmt: skip
    agent.start()
    ecs.register_task_definition(family="ticker", containerDefinitions=[{
        "name": "ticker", "image": "dockyard-test/busybox:1", "cpu": 64, "memory": 32,
        "command": ["sh", "-c", TICKER], "essential": True}])  # fmt: skip
    ecs.create_service(
        cluster="console01", serviceName="ticker", taskDefinition="ticker", desiredCount=1
    )
    wait_for(lambda: ecs.describe_services(cluster="console01", services=["ticker"])["services"][0]["runningCount"] == 1,
             60, 0.2, "ticker running")  # fmt: skip
    try:
        yield {"ecs": ecs, "agent": agent}
    finally:
        ecs.update_service(cluster="console01", service="ticker", desiredCount=0)
        agent.stop()
        remove_task_containers("console01")


def test_console_shows_the_cluster_scales_out_and_follows_logs(
    browser: Any, server: ServerProcess, cluster: dict[str, Any]
) -> None:
    ecs = cluster["ecs"]
    browser.get(server.endpoint + "/")  # redirects to the console
    assert browser.current_url == server.endpoint + "/console/"
    wait_for(
        lambda: css(browser, "a[href='/console/clusters/console01']"), 10, what="cluster link"
    )[0].click()

    row = wait_for(lambda: css(browser, "tr.instance"), 10, what="instance row")[0]
    assert "connected" in row.text and "ACTIVE" in row.text and "127.0.1.41" in row.text
    bars = css(browser, "tr.instance .bar span")
    assert [b.text for b in bars] == ["3%", "2%"]  # 64 of 2048 CPU units, 32 of 2048 MiB
    assert "ticker" in text_of(browser, "#services")
    wait_for(lambda: len(css(browser, "#tasks tr.task")) == 1, 10, what="one task row")

    css(browser, "tr.service a")[0].click()
    wait_for(
        lambda: text_of(browser, "#desired") == "1" and text_of(browser, "#running") == "1",
        10,
        what="service summary",
    )
    first_tasks = {e.get_attribute("data-task") for e in css(browser, "#tasks tr.task")}
    assert len(first_tasks) == 1

    css(browser, "#scale-out")[0].click()  # POST through UpdateService, then back here
    wait_for(
        lambda: "desired count set to 2" in text_of(browser, ".flash.ok"), 10, what="flash message"
    )
    assert (
        ecs.describe_services(cluster="console01", services=["ticker"])["services"][0][
            "desiredCount"
        ]
        == 2
    )

    def two_running() -> bool:  # the htmx-polled task list, not a reload
        rows = css(browser, "#tasks tr.task")
        return len(rows) == 2 and all("RUNNING" in r.text for r in rows)

    wait_for(two_running, 60, 0.5, "the new task in the page")
    new_task = (
        {e.get_attribute("data-task") for e in css(browser, "#tasks tr.task")} - first_tasks
    ).pop()
    wait_for(
        lambda: "2 of 2 running" in text_of(browser, "#deployments"), 30, 0.5, "rollout progress"
    )
    screenshot(browser, "console-service.png")

    css(browser, "#tab-metrics")[0].click()
    # the agent reports every second; the CPU and memory charts fill from GetMetricData
    wait_for(lambda: len(css(browser, ".chart")) == 4, 15, 0.5, "four charts")
    titles = [c.get_attribute("data-chart") for c in css(browser, ".chart")]
    assert titles == [
        "CPU utilization",
        "Memory utilization",
        "Request count",
        "Target response time",
    ]

    def memory_drawn() -> bool:
        browser.refresh()
        return bool(wait_for(lambda: css(browser, ".chart"), 10, what="charts")) and not css(
            browser, ".chart[data-chart='Memory utilization'].blank")  # fmt: skip

    wait_for(memory_drawn, 60, 3, "memory datapoints in the chart")
    assert css(browser, ".chart[data-chart='Memory utilization'] canvas")
    screenshot(browser, "console-service-metrics.png")

    browser.get(f"{server.endpoint}/console/clusters/console01/tasks/{new_task}")
    assert "RUNNING" in text_of(browser, "#last-status")
    assert "ticker" in text_of(browser, "#containers")
    first = wait_for(
        lambda: "tick" in text_of(browser, "#logs") and text_of(browser, "#logs"),
        20,
        0.3,
        "log lines",
    )
    last_tick = max(int(line.split()[1]) for line in first.splitlines() if line.startswith("tick "))
    # following: newer lines arrive without a reload
    wait_for(lambda: f"tick {last_tick + 3}" in text_of(browser, "#logs"), 20, 0.3, "new log lines")
    screenshot(browser, "console-task.png")

    css(browser, "#stop-task")[0].click()
    wait_for(lambda: "is stopping" in text_of(browser, ".flash.ok"), 10, what="stop flash")
    stopped = ecs.describe_tasks(cluster="console01", tasks=[new_task])["tasks"][0]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "Task stopped from the Dockyard console"
    wait_for(
        lambda: text_of(browser, "#last-status") == "STOPPED", 30, 0.5, "task STOPPED in the page"
    )
    assert "137" in text_of(browser, "#containers") or "143" in text_of(browser, "#containers")


KEY, SECRET = "AKIDCONSOLE", "console-s3cret-value"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
    )
    proc = ServerProcess(tmp_path / "data", extra_args=["--credentials", str(credentials)])
    proc.start()
    yield proc
    proc.stop()


def post(url: str, data: dict[str, str], headers: dict[str, str]) -> int:
    body = "&".join(f"{k}={v}" for k, v in data.items()).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def test_console_with_credentials_logs_in_and_refuses_forged_requests(
    browser: Any, secured: ServerProcess
) -> None:
    ecs = secured.client(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    ecs.create_cluster(clusterName="secure01")
    ecs.register_task_definition(family="idle", containerDefinitions=[
        {"name": "idle", "image": "dockyard-test/busybox:1", "memory": 16}])  # fmt: skip
    ecs.create_service(
        cluster="secure01", serviceName="idle", taskDefinition="idle", desiredCount=0
    )
    page = f"{secured.endpoint}/console/clusters/secure01/services/idle"

    browser.get(page)
    assert "/console/login" in browser.current_url
    css(browser, "#access-key")[0].send_keys(KEY)
    css(browser, "#secret-key")[0].send_keys("not-the-secret")
    css(browser, "#sign-in")[0].click()  # the form posts: wait for the page it answers with
    wait_for(lambda: "wrong secret" in text_of(browser, ".flash.err"), 10, what="login refused")
    css(browser, "#access-key")[0].send_keys(KEY)
    css(browser, "#secret-key")[0].send_keys(SECRET)
    css(browser, "#sign-in")[0].click()
    wait_for(lambda: browser.current_url == page, 10, what="back on the service page")
    assert KEY in text_of(browser, "header .user")

    css(browser, "#scale-out")[0].click()
    wait_for(
        lambda: "desired count set to 1" in text_of(browser, ".flash.ok"), 10, what="scale flash"
    )
    assert (
        ecs.describe_services(cluster="secure01", services=["idle"])["services"][0]["desiredCount"]
        == 1
    )

    cookie = browser.get_cookie("dockyard_console")
    assert cookie is not None and cookie["httpOnly"]
    assert browser.execute_script("return document.cookie") == ""  # not readable by scripts
    session = {"Cookie": f"dockyard_console={cookie['value']}"}
    token = css(browser, "input[name=csrf_token]")[0].get_attribute("value")
    scale = page + "/scale"
    assert post(scale, {"desiredCount": "5", "csrf_token": token}, {}) == 403  # no session
    assert post(scale, {"desiredCount": "5"}, session) == 403  # no CSRF token
    assert (
        post(scale, {"desiredCount": "5", "csrf_token": "0" * 64}, session) == 403
    )  # forged token
    assert (
        ecs.describe_services(cluster="secure01", services=["idle"])["services"][0]["desiredCount"]
        == 1
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page + "/metrics.json", timeout=5)
    refused.value.close()
    assert refused.value.code == 403
    with urllib.request.urlopen(
        urllib.request.Request(page + "/metrics.json", headers=session), timeout=5
    ) as ok:
        assert json.loads(ok.read())["charts"][0]["title"] == "CPU utilization"
