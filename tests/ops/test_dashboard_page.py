"""The dashboard page as served: HTML for a browser at `/` (JSON for everyone else), its assets
as package data, the security headers, and the rules its files keep (no inline code, no markup
built from data)."""

from __future__ import annotations

import configparser
import fnmatch
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from supervisor.ops.page import ASSETS
from supervisor.ops.server import OpsServer

STATIC = Path(__file__).resolve().parents[2] / "supervisor" / "ops" / "static"
SETUP_CFG = Path(__file__).resolve().parents[2] / "setup.cfg"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_gets_the_page_under_a_strict_policy(http: httpx.Client) -> None:
    response = http.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!doctype html>")
    header = response.headers["content-security-policy"]
    policy = dict(part.strip().split(" ", 1) for part in header.split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["vary"] == "Accept"


def test_scripts_still_get_the_json_index(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert "GET /runs/{id}/log" in body["endpoints"]
    assert body["actions"] == "token"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_without_a_token_configured_the_index_says_actions_are_off(open_server: OpsServer) -> None:
    assert httpx.get(open_server.url + "/", trust_env=False).json()["actions"] == "off"


@pytest.mark.parametrize("path, content_type", [
    ("/dashboard.js", "text/javascript; charset=utf-8"),
    ("/dashboard.css", "text/css; charset=utf-8"),
    ("/favicon.svg", "image/svg+xml"),
])
def test_assets_are_served_from_the_package(http: httpx.Client, path: str,
                                            content_type: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (STATIC / path.lstrip("/")).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_asset_is_package_data() -> None:
    """A normal (non-editable) install must carry every file the page needs."""
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    patterns = [p.strip() for p in config["options.package_data"]["supervisor"].split(",")]
    for name, _ in ASSETS.values():
        assert any(fnmatch.fnmatch(f"ops/static/{name}", p) for p in patterns), name


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script":
            self.script_text += data.strip()


def test_the_page_has_no_inline_code() -> None:
    parser = _Tags()
    parser.feed((STATIC / "index.html").read_text())
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert parser.script_text == ""
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    inline = [(tag, name) for tag, attrs in parser.tags for name in attrs
              if name == "style" or name.startswith("on")]
    assert inline == []


def test_the_script_never_builds_markup_from_strings() -> None:
    script = (STATIC / "dashboard.js").read_text()
    sinks = re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|"
                       r"new Function|setAttribute\(\s*['\"]on", script)
    assert sinks == []
    assert "document.cookie" not in script


def test_a_missing_browser_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ops import browser

    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv(browser.REQUIRED_VAR, "required")
    with pytest.raises(pytest.fail.Exception, match="/nonexistent/chromium is missing"):
        next(browser.chrome())
    monkeypatch.delenv(browser.REQUIRED_VAR)
    with pytest.raises(pytest.skip.Exception, match="SUPERVISOR_BROWSER_TESTS=required"):
        next(browser.chrome())
