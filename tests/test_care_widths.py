"""Every care page fits a 1,280 px screen and the provider's portal pages a 390 px phone
(issue 9, point 6): a real server on a copy of the demo book, chromium at both widths, and
no page wider than its window (a wide table scrolls in its own box)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import func, select

from remit.care.store import care_runs, planned_visits
from remit.db import Database
from remit.demo import DEMO_PASSWORD
from remit.ledger.store import books
from remit.testkit.server import Server, serve

pytestmark = pytest.mark.xdist_group("browser")

CHROMIUM = "/usr/bin/chromium"
BOOK = "riverside"
CLERK, PROVIDER = "demo-clerk@riverside", "demo-provider@riverside"
MANAGER = "demo-manager@riverside"
DESKTOP, PHONE = 1280, 390


@pytest.fixture(scope="module")
def served(
    demo_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, dict[str, str]]]:
    template, key = demo_template
    work = tmp_path_factory.mktemp("widths")
    copy = work / "remit.db"
    shutil.copy(template, copy)
    database = Database(f"sqlite:///{copy}")
    with database.read() as conn:
        r = care_runs.c
        run_id, first, last = conn.execute(
            select(func.min(r.id), func.min(r.period_start), func.max(r.period_end))
        ).one()
        v = planned_visits.c
        book_id = select(books.c.id).where(books.c.code == BOOK).scalar_subquery()
        visit_id, provider_id, client_id = conn.execute(
            select(v.id, v.provider_party_id, v.client_party_id)
            .where(v.book_id == book_id)
            .order_by(v.id)
            .limit(1)
        ).one()
    database.dispose()
    ids = {
        "run": str(run_id),
        "from": str(first),
        "to": str(last),
        "visit": str(visit_id),
        "provider": str(provider_id),
        "client": str(client_id),
    }
    with serve(f"sqlite:///{copy}", key, work / "server.log") as running:
        yield running, ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} must be installed in CI (scripts/sysdeps.sh test)")
        pytest.skip(f"no {CHROMIUM}: run scripts/sysdeps.sh test")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def _signed_in(browser: Browser, server: Server, username: str, width: int) -> Page:
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def _too_wide(page: Page, paths: list[str]) -> list[tuple[str, int]]:
    """The pages, of ``paths``, wider than the window, with their width."""
    found = []
    for path in paths:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        assert page.url.endswith(path), (path, page.url)  # signed in, not sent to /login
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > page.evaluate("window.innerWidth"):
            found.append((path, width))
    return found


def test_every_care_page_fits_a_1280_pixel_screen(browser, served):
    server, ids = served
    page = _signed_in(browser, server, CLERK, DESKTOP)
    period = f"from={ids['from']}&to={ids['to']}"
    paths = [
        f"/b/{BOOK}/care",
        f"/b/{BOOK}/care/reports?{period}",
        f"/b/{BOOK}/care/runs/{ids['run']}",
        f"/b/{BOOK}/care/unmatched",
        f"/b/{BOOK}/care/absences",  # the hospital stays
        f"/b/{BOOK}/care/visits/{ids['visit']}",
        f"/b/{BOOK}/parties/{ids['provider']}",
        f"/b/{BOOK}/parties/{ids['client']}",
        f"/b/{BOOK}/queue",
    ]
    assert _too_wide(page, paths) == []
    page.context.close()


def test_the_managers_care_pages_fit_a_1280_pixel_screen(browser, served):
    server, _ = served
    page = _signed_in(browser, server, MANAGER, DESKTOP)
    paths = [f"/b/{BOOK}/care/policy", f"/b/{BOOK}/admin/book"]
    assert _too_wide(page, paths) == []
    page.context.close()


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_the_portal_visits_page_fits_a_phone_and_a_screen(browser, served, width):
    server, _ = served
    page = _signed_in(browser, server, PROVIDER, width)
    assert _too_wide(page, [f"/portal/{BOOK}/visits"]) == []
    page.context.close()


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_the_other_portal_pages_fit_a_phone_and_a_screen(browser, served, width):
    server, _ = served
    page = _signed_in(browser, server, PROVIDER, width)
    paths = [
        f"/portal/{BOOK}",
        f"/portal/{BOOK}/remittances",
        f"/portal/{BOOK}/queries",
        f"/portal/{BOOK}/documents",
    ]
    assert _too_wide(page, paths) == []
    page.context.close()
