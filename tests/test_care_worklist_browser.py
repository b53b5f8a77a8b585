"""The worklist in a real browser at 1,280 px: filter, a failed decision keeping its values,
a bulk decision; the provider's run page in its portal at 390 px (a phone)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from remit.db import Database
from remit.demo import DEMO_PASSWORD
from remit.testkit.care_worklist import seed_long_run
from remit.testkit.server import Server, serve

pytestmark = pytest.mark.xdist_group("browser")

CHROMIUM = "/usr/bin/chromium"
BOOK = "riverside"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def served(
    demo_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, int]]:
    template, key = demo_template
    work = tmp_path_factory.mktemp("worklist-browser")
    copy = work / "remit.db"
    shutil.copy(template, copy)
    database = Database(f"sqlite:///{copy}")
    run_id, _total, _lines = seed_long_run(database)
    database.dispose()
    with serve(f"sqlite:///{copy}", key, work / "server.log") as running:
        yield running, run_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} must be installed in CI (scripts/sysdeps.sh test)")
        pytest.skip(f"no {CHROMIUM}: run scripts/sysdeps.sh test")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def _signed_in(browser: Browser, server: Server, username: str, width: int) -> Page:
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    return page


def _fits(page: Page, width: int) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide at {width} px"


def test_the_worklist_filters_keeps_a_failed_decision_and_decides_in_bulk(browser, served):
    server, run_id = served
    page = _signed_in(browser, server, f"demo-clerk@{BOOK}", 1280)
    page.goto(f"/b/{BOOK}/care/runs/{run_id}")
    rows = page.locator("table.worklist tbody tr")
    expect(rows).to_have_count(50)
    _fits(page, 1280)
    page.locator("#f-rule").select_option(label="too short")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#matching")).to_contain_text("1 of ")
    # A failed decision: the row's form stays open with what was typed.
    rows.first.get_by_text("Decide", exact=True).click()
    form = rows.first.locator("form.decision")
    form.get_by_label("Decision").select_option("set_minutes")
    form.get_by_label("Minutes (to set)").fill("5000")
    form.get_by_label("Reason (the provider sees it)").fill("carer phoned in")
    form.get_by_role("button", name="Record the decision").click()
    expect(page.locator(".errors")).to_contain_text("Minutes (exception")
    expect(page.locator(".errors")).to_contain_text("0 to 1440 minutes")
    form = page.locator("table.worklist tbody tr").first.locator("form.decision")
    expect(form.get_by_label("Minutes (to set)")).to_have_value("5000")
    expect(form.get_by_label("Reason (the provider sees it)")).to_have_value("carer phoned in")
    # In bulk: the missed visits, three ticked, rejected with one reason.
    page.goto(f"/b/{BOOK}/care/runs/{run_id}?rule=no_record_for_place")
    boxes = page.locator('input[name="pick"]')
    for n in range(3):
        boxes.nth(n).check()
    bulk = page.locator("#bulk")
    bulk.get_by_label("Decision").select_option("reject")
    bulk.get_by_label("Reason (the provider sees it)").fill("no visit took place")
    bulk.get_by_role("button", name="Decide the ticked exceptions").click()
    page.goto(f"/b/{BOOK}/care/runs/{run_id}?state=decided")
    expect(page.locator("table.worklist tbody tr")).to_have_count(3)
    expect(page.locator("table.worklist tbody tr").first).to_contain_text("decided reject")
    _fits(page, 1280)
    page.context.close()


def test_the_provider_answers_on_a_phone(browser, served):
    server, run_id = served
    page = _signed_in(browser, server, f"demo-provider@{BOOK}", 390)
    page.goto(f"/portal/{BOOK}/visits/runs/{run_id}")
    first = page.locator("article.exception").first
    first.get_by_label("Your answer").fill("the client was in hospital that week")
    first.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_role("status")).to_contain_text("was sent")
    expect(page.locator("article.exception").first).to_contain_text("You answered")
    _fits(page, 390)
    page.context.close()
