"""The dashboard in a real headless Chromium against a real supervisor (embedded, ops API on a
free port, real SQLite, real processes): it loads, starts a run that completes, cancels a run's
whole tree, shows names and output with markup as text, and notices the supervisor going away."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from supervisor.settings import parse_settings
from supervisor.system import Supervisor
from tests.ops.browser import problems
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

TOKEN = "dashboard-token"
TOKEN_ENV = "DASHBOARD_TEST_TOKEN"
XSS = "<img src=x onerror=alert(1)>"
OUTPUT = "<b>not bold</b><script>alert(2)</script><img src=x onerror=alert(3)>"
TIMEOUT = 300
TREE = ["sh -c sleep 60 & sleep 61 & wait", "sleep 60", "sleep 61"]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Supervisor]:
    data = {
        "supervisor": {"name": "dash", "poll_interval": 0.2, "cancel_poll_interval": 0.2,
                       "kill_grace": 2.0},
        "ops": {"host": "127.0.0.1", "port": 0, "token_env": TOKEN_ENV},
        "deployments": [
            {"name": "echo", "command": [sys.executable, "-c", f"print({OUTPUT!r})"]},
            {"name": "tree", "command": ["sh", "-c", "sleep 60 & sleep 61 & wait"],
             "timeout": TIMEOUT},
            {"name": XSS, "command": [sys.executable, "-c", "pass"]},
        ],
    }
    settings = parse_settings(data, tmp_path / "supervisor.toml", env={})
    supervisor = Supervisor(settings, environment={**os.environ, TOKEN_ENV: TOKEN})
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()


def open_page(browser: Any, system: Supervisor) -> None:
    problems(browser)  # forget what an earlier test's page logged
    browser.get(f"{system.ops_url}/")
    wait_until(lambda: text(browser, "health") == "healthy", timeout=15, message="healthy")


def text(browser: Any, element_id: str) -> str:
    return str(browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : ''",
        element_id))


def click(browser: Any, xpath: str) -> None:
    """Click what `xpath` finds; the page redraws every second, so retry a stale find."""
    def attempt() -> bool:
        try:
            browser.find_element(By.XPATH, xpath).click()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        return True
    wait_until(attempt, timeout=10, message=f"a clickable {xpath}")


def run_now_button(name: str) -> str:
    return f"//table[@id='deployments']//tr[@data-deployment='{name}']//button[.='Run now']"


def use_token(browser: Any, token: str) -> None:
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "token-use").click()


def history(browser: Any) -> list[dict[str, str]]:
    """The recent-runs table as the page shows it, read in one go."""
    return list(browser.execute_script("""
        return [...document.querySelectorAll('#history tbody tr')]
          .filter(row => row.dataset.run)
          .map(row => ({id: row.dataset.run, type: row.dataset.state,
                        state: row.cells[0].textContent, deployment: row.cells[1].textContent}));
    """))


def finished_run(browser: Any, deployment: str, state: str) -> dict[str, str]:
    return wait_until(
        lambda: next((r for r in history(browser)
                      if r["deployment"] == deployment and r["state"] == state), None),
        timeout=20, message=f"a {state} run of {deployment} in the page",
    )


def assert_no_alert(browser: Any) -> None:
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def test_the_page_shows_a_live_supervisor_and_a_run_started_from_it(
    browser: Any, system: Supervisor
) -> None:
    # Given the page on a live supervisor, without a token.
    open_page(browser, system)
    actors = browser.find_element(By.ID, "actors").text
    assert "schedule-poller" in actors and "cancellation-poller" in actors
    assert "cron" not in text(browser, "deployments") and "echo" in text(browser, "deployments")
    # Then it is read-only and says why.
    assert "need the ops token" in browser.find_element(By.ID, "readonly").text
    assert not browser.find_element(By.XPATH, run_now_button("echo")).is_enabled()

    # When a wrong token is used: the action is refused, said so, and the page is read-only again.
    use_token(browser, "not-the-token")
    click(browser, run_now_button("echo"))
    wait_until(lambda: "wrong token" in text(browser, "notice"), message="the refusal shown")
    assert browser.find_element(By.ID, "readonly").is_displayed()
    assert [p.split(" - ")[0] for p in problems(browser)] == [
        f"{system.ops_url}/deployments/echo/run"
    ]

    # When the right token is used and "Run now" clicked: the run appears and completes.
    use_token(browser, TOKEN)
    assert not browser.find_element(By.ID, "readonly").is_displayed()
    click(browser, run_now_button("echo"))
    run = finished_run(browser, "echo", "Completed")
    assert run["type"] == "COMPLETED"

    # And its log, opened from the page, shows the output's markup as text.
    click(browser, f"//table[@id='history']//tr[@data-run='{run['id']}']//button[.='Log']")
    wait_until(lambda: "complete" in text(browser, "log-status"), message="the whole log")
    assert text(browser, "log") == OUTPUT + "\n"
    assert browser.find_elements(By.CSS_SELECTOR, "#log *") == []
    assert_no_alert(browser)
    assert problems(browser) == []


def test_a_cancel_from_the_page_ends_the_runs_whole_tree(browser: Any,
                                                         system: Supervisor) -> None:
    open_page(browser, system)
    use_token(browser, TOKEN)
    click(browser, run_now_button("tree"))

    # The run's card shows its three processes and an elapsed bar against its timeout.
    def card() -> dict[str, Any] | None:
        found = browser.execute_script("""
            const card = document.querySelector('#inflight .run');
            if (!card) return null;
            const bar = card.querySelector('progress');
            const rows = [...card.querySelectorAll('tr.process')];
            return {id: card.dataset.run, max: bar ? bar.max : null,
                    pids: rows.map(row => Number(row.cells[0].textContent)),
                    commands: rows.map(row => row.cells[1].textContent).sort()};
        """)
        return found if found and found["commands"] == TREE else None

    shown = wait_until(card, timeout=20, message="the run's three processes in the page")
    assert shown["max"] == TIMEOUT
    processes = [psutil.Process(pid) for pid in shown["pids"]]
    assert sorted(" ".join(p.cmdline()) for p in processes) == TREE

    click(browser, f"//div[@data-run='{shown['id']}']//button[.='Cancel']")
    finished_run(browser, "tree", "Cancelled")
    wait_until(lambda: not any(_alive(p) for p in processes), message="the whole tree gone")
    wait_until(lambda: "No run in flight" in text(browser, "inflight"), message="none in flight")
    assert problems(browser) == []


def test_names_with_markup_render_as_text(browser: Any, system: Supervisor) -> None:
    open_page(browser, system)
    use_token(browser, TOKEN)
    click(browser, run_now_button(XSS))
    finished_run(browser, XSS, "Completed")
    system.run_now("echo")
    finished_run(browser, "echo", "Completed")

    names = browser.execute_script(
        "return [...document.querySelectorAll('.deployment-name')].map(c => c.textContent)")
    assert XSS in names

    # Pausing it from the page reaches the control plane under its exact name, and back.
    row = f"//table[@id='deployments']//tr[@data-deployment='{XSS}']"
    click(browser, f"{row}//button[.='Pause']")
    wait_until(lambda: [d["paused"] for d in system.deployments() if d["name"] == XSS] == [True],
               message="the deployment paused")
    click(browser, f"{row}//button[.='Resume']")
    wait_until(lambda: [d["paused"] for d in system.deployments() if d["name"] == XSS] == [False],
               message="the deployment resumed")
    Select(browser.find_element(By.ID, "filter-deployment")).select_by_visible_text(XSS)
    wait_until(lambda: {r["deployment"] for r in history(browser)} == {XSS},
               message="only the filtered deployment's runs")
    Select(browser.find_element(By.ID, "filter-state")).select_by_visible_text("FAILED")
    wait_until(lambda: history(browser) == [], message="no failed run of it")
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert_no_alert(browser)
    assert problems(browser) == []


def test_the_page_says_when_the_supervisor_stops_answering(browser: Any,
                                                           system: Supervisor) -> None:
    open_page(browser, system)
    assert not browser.find_element(By.ID, "offline").is_displayed()
    system.stop()
    wait_until(lambda: "not answering" in text(browser, "offline"), timeout=10,
               message="the page saying the supervisor is gone")
    assert browser.find_element(By.ID, "offline").is_displayed()
    assert text(browser, "health") == "not answering"
    assert "stale" in browser.find_element(By.TAG_NAME, "main").get_attribute("class")


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
