"""The HTML audit report in a real browser: it loads offline with no console error, fetches nothing,
every chart renders, and the totals on the page are the JSON form's.

Headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `make tools`) driven by
selenium. Chromium runs as root in CI, hence --no-sandbox; the background-networking flags keep it
from calling out (this machine's network is closed, and a refused connection would be noise, not the
report's fault). Without Chromium the test skips on a developer's machine and fails under CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.audit.period import parse_period, parse_time
from streams.audit.render import render
from streams.audit.report import Accessor, run_report
from tests.harness.audit_rows import empty_store, load, policy_file, simulate

HOUR = 3_600_000
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1024",
)  # fmt: skip


def _missing(what: str) -> None:
    message = f"{what}: `make tools` installs chromium and chromium-driver, `pip install -e '.[test]'` selenium"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from selenium import webdriver  # noqa: PLC0415 (only this test needs it)
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    except ImportError:
        _missing("selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _missing("chromium or chromedriver is not on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(driver_path)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Two reports as HTML files with their JSON: a busy month with every section, and a quiet period."""
    folder = tmp_path_factory.mktemp("report")
    rows = simulate(
        [(0, load(policy_file(folder, version="b-1"))), (30, load(policy_file(folder, version="b-2", arizona=None)))],
        batches=48, reads_per_batch=150, start_ms=parse_time("2026-11-01"), step_ms=HOUR,
    )  # fmt: skip
    engine, drop = empty_store("sqlite", folder)
    rows.insert_into(engine)
    registry = load(policy_file(folder, version="registry")).registry
    out = {}
    try:
        for name, (start, end) in {
            "busy": ("2026-11-01", "2026-11-30"),
            "quiet": ("2026-11-02T12:00:00Z", "2026-11-02"),
        }.items():
            report = run_report(engine, parse_period(start, end), registry, Accessor("tester", "browser test"))
            page = folder / f"{name}.html"
            page.write_text(render(report, "html"), encoding="utf-8")
            out[name] = (page, orjson.loads(render(report, "json")))
    finally:
        drop()
    return out


@pytest.mark.parametrize("name", ["busy", "quiet"])
def test_the_html_report_renders_offline_with_its_totals(
    browser: Any, pages: dict[str, tuple[Path, dict[str, Any]]], name: str
) -> None:
    page, doc = pages[name]
    browser.get_log("browser")  # drop anything logged before this page
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title.startswith("ALPR sharing audit report")

    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    # nothing was fetched: no resource entries, and the page holds no script
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0

    charts = browser.execute_script(
        """
        return Array.from(document.querySelectorAll('figure.chart')).map(fig => {
          const svg = fig.querySelector('svg'), img = fig.querySelector('img');
          const box = (svg || img).getBoundingClientRect();
          return {
            name: fig.dataset.chart, width: box.width, height: box.height,
            shapes: svg ? svg.querySelectorAll('path, rect, use, text').length : 0,
            drawn: svg ? svg.getBBox().width * svg.getBBox().height : (img.complete ? img.naturalWidth : 0),
          };
        });
        """
    )
    assert [c["name"] for c in charts] == ["reads", "alerts_by_recipient", "alerts_by_state", "denials_by_rule",
                                           "over_time"]  # fmt: skip
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["shapes"] > 10 and chart["drawn"] > 0, chart

    shown = browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('[data-total]'))"
        ".map(e => [e.dataset.total, e.innerText]))"
    )
    assert {k: int(v.replace(",", "")) for k, v in shown.items()} == doc["totals"]
    assert doc["totals"]["decisions"] > 0
    if name == "busy":
        assert doc["totals"]["shared_outside_state"] > 0 and doc["totals"]["shared_federal_or_private"] > 0
        listed = browser.execute_script(
            "return ['outside-state', 'federal-private'].map(id => { let n = 0, e = document.getElementById(id);"
            " while ((e = e.nextElementSibling) && e.tagName !== 'H2') n += e.querySelectorAll('tbody tr').length;"
            " return n; })"
        )
        assert listed == [doc["totals"]["shared_outside_state"], doc["totals"]["shared_federal_or_private"]]
    else:  # the sections say plainly that there were none
        nones = browser.execute_script(
            "return Array.from(document.querySelectorAll('[data-none]')).map(e => e.dataset.none)"
        )
        assert nones == ["shared_outside_state", "shared_federal_or_private"]
