"""One headless Chromium for the session's dashboard tests, driven by selenium and the system
chromedriver (Debian's `chromium` and `chromium-driver`; `scripts/install-browser` installs them).

Missing browser: the tests skip, unless SUPERVISOR_BROWSER_TESTS=required (CI sets it), where
they fail. The browser starts without the test session's cookie in its environment: it is the
session's tool, not a process a test left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests import leaks

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRED_VAR = "SUPERVISOR_BROWSER_TESTS"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1400",
)


def _unavailable() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (run scripts/install-browser)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def chrome() -> Iterator[Any]:
    """A started webdriver; quit and its profile removed after."""
    missing = _unavailable()
    if missing is not None:
        if os.environ.get(REQUIRED_VAR) == "required":
            pytest.fail(f"browser tests are required ({REQUIRED_VAR}=required) but {missing}")
        pytest.skip(f"browser tests skipped: {missing} (set {REQUIRED_VAR}=required to fail)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {k: v for k, v in os.environ.items() if k != leaks.SESSION_VAR}
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, env=env))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def problems(driver: Any) -> list[str]:
    """What the page's console reported as errors since last asked: script errors, failed
    loads and Content-Security-Policy violations all show up here."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
