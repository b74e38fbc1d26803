"""The web page in a real browser (Debian's Chromium, driven by Playwright): ask a question on the demo
database, watch the stages arrive, and find the result table, the chart and the candidates. The screenshot goes
to ``$MSCSQL_SCREENSHOT`` when set (``eval/results/serve_web.png`` is one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.pipeline.test_quick_start import ANSWER_BOX, local_server  # noqa: F401
from tests.serve.test_api import _serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BY_REGION = ("SELECT r.name AS region, count(*) AS customers FROM customers c "
             "JOIN regions r ON r.region_id = c.region_id GROUP BY r.name ORDER BY customers DESC")


def _browser_or_skip() -> None:
    missing = [what for what, ok in (("playwright", shutil.which("playwright") or _importable("playwright")),
                                     ("chromium", Path(CHROMIUM).exists())) if not ok]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{' and '.join(missing)} missing on CI (.ci/run installs them)")
        pytest.skip(f"needs {' and '.join(missing)} (pip install playwright; apt-get install chromium)")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_the_page_asks_and_shows_the_table_the_chart_and_the_candidates(tmp_path: Path,
                                                                         local_server: str) -> None:  # noqa: F811
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    ANSWER_BOX[0] = BY_REGION
    for served in _serve(tmp_path, local_server):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1100})
                problems: list[str] = []
                page.on("pageerror", lambda err, seen=problems: seen.append(str(err)))
                page.on("requestfailed", lambda request, seen=problems: seen.append(request.url))
                page.goto(served.url + "/")
                page.wait_for_selector("#database option[value=demo]", state="attached")
                page.fill("#question", "How many customers does each region have?")
                page.click("#submit")
                page.wait_for_selector("#result tbody tr")
                page.wait_for_selector("#chart rect")
                stages = page.locator("#stages li").all_inner_texts()
                assert [s.split()[0].rstrip(":") for s in stages] == ["linking", "generation", "execution",
                                                                        "selection"]
                assert page.inner_text("#sql") == BY_REGION
                assert page.inner_text("#explanation").startswith(
                    "Lists the name (as region) and the number of rows (as customers) of the customers joined with "
                    "regions")
                assert page.locator("#result thead th").all_inner_texts() == ["region", "customers"]
                assert page.locator("#result tbody tr").count() == 6
                assert page.locator("#chart rect").count() == 6
                assert "customers by region" in page.inner_text("#chart-caption")
                assert page.locator("#candidates tbody tr.chosen").count() == 1
                with page.expect_download() as download:
                    page.click("#csv")
                lines = Path(download.value.path()).read_text().splitlines()
                assert lines[0] == "region,customers" and len(lines) == 7
                page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
                assert not problems, problems  # nothing fetched from elsewhere, no script error
            finally:
                browser.close()
        target = os.environ.get("MSCSQL_SCREENSHOT")
        if target:
            shutil.copy(tmp_path / "page.png", target)


def test_an_unsure_answer_shows_its_options_and_a_follow_up_continues_the_conversation(
        tmp_path: Path, local_server: str) -> None:  # noqa: F811
    """Two generators disagree, so the answer abstains (min_confidence 0.95): the page lists both results as
    options, and picking one runs it; the next question is a follow-up until "Start over"."""
    import json

    from tests.pipeline.test_quick_start import ANSWERS_BY_MODEL, _Server

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    ANSWER_BOX[0] = BY_REGION
    ANSWERS_BY_MODEL["second"] = "SELECT count(*) AS customers FROM customers"

    def member(name: str) -> dict:
        return {"name": name, "backend": "openai", "model": name, "n": 2, "temperature": 0.5,
                "options": {"base_url": local_server}}

    pipeline = json.dumps({"use_values": False, "linking": {"linkers": ["keep-all"]}, "execution": {"timeout_s": 5},
                           "selection": {"min_confidence": 0.95}, "generators": [member("first"), member("second")]})
    for served in _serve(tmp_path, local_server, pipeline=pipeline):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                problems: list[str] = []
                page.on("pageerror", lambda err, seen=problems: seen.append(str(err)))
                page.goto(served.url + "/")
                page.wait_for_selector("#database option[value=demo]", state="attached")
                page.fill("#question", "How many customers does each region have?")
                page.click("#submit")
                page.wait_for_selector("#option-list li")
                assert page.is_hidden("#answer") and page.locator("#option-list li").count() == 2
                assert "The candidates disagree" in page.inner_text("#options-note")
                options = page.locator("#option-list li pre").all_inner_texts()
                assert sorted(options) == sorted([BY_REGION, "SELECT count(*) AS customers FROM customers"])
                # each option says what it does, in plain English, above its SQL
                said = page.locator("#option-list li .option-explanation").all_inner_texts()
                assert said[options.index("SELECT count(*) AS customers FROM customers")] == "Counts the customers."
                assert said[options.index(BY_REGION)].startswith("Lists the name (as region)")
                page.screenshot(path=str(tmp_path / "options.png"), full_page=True)
                page.locator("#option-list li").nth(options.index(
                    "SELECT count(*) AS customers FROM customers")).locator("button").click()
                page.wait_for_selector("#result tbody tr")
                assert page.is_hidden("#options") and page.inner_text("#result tbody") == "120"
                assert page.inner_text("#explanation") == "Counts the customers."  # the picked option's
                assert page.is_visible("#conversation")
                ANSWERS_BY_MODEL.clear()
                page.fill("#question", "And which region has the most?")
                page.click("#submit")
                page.wait_for_selector("#badge:has-text('confidence')")
                page.wait_for_selector("#answer:not([hidden])")
                asked = [r for r in _Server.requests if "messages" in r]
                earlier = asked[-1]["messages"][-1]["content"].split("Question: And which region")[0]
                assert "Earlier questions in this conversation" in earlier
                # the option the person picked is what the follow-up builds on (sent as their correction)
                assert "SELECT count(*) AS customers FROM customers" in earlier and BY_REGION not in earlier
                page.click("#new-conversation")
                assert page.is_hidden("#conversation")
                assert not problems, problems
            finally:
                browser.close()
        target = os.environ.get("MSCSQL_OPTIONS_SCREENSHOT")
        if target:
            shutil.copy(tmp_path / "options.png", target)
