"""Save the main pages of remit as PNG under docs/screenshots/ (``make screenshots``).

Seeds the small demo (seed 7, as the tests do) into a throwaway SQLite book, serves it on a
free loopback port, and drives Debian's chromium with Playwright: staff pages as the demo
clerk, approver and admin, the provider portal as the demo provider. Each shot is the
1280x800 viewport, so the files stay small enough to commit. A page that does not answer
200 stops the run: a screenshot of an error page is no screenshot.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

from remit.demo import DEMO_PASSWORD
from remit.testkit.server import serve
from remit.testkit.web import seed_demo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# Who signs in, and the pages they see. Ids are those of the demo seeded with seed 7:
# case 62 is an open, overdue helpdesk query with some history; party 1 is the first
# provider (the demo provider's own party). After the clerk's pages the clerk asks for a
# change of party 2's bank details, so that the approver has one waiting.
PAGES = (
    (
        "demo-clerk@riverside",
        (
            ("queue", "/b/riverside/queue"),
            ("cases", "/b/riverside/cases?overdue=1"),
            ("case", "/b/riverside/cases/62"),
            ("providers", "/b/riverside/parties?role=provider"),
            ("party", "/b/riverside/parties/1"),
            ("reports", "/b/riverside/reports"),
            ("care", "/b/riverside/care"),
            ("care-reports", "/b/riverside/care/reports?from=2026-10-01&to=2026-10-31"),
            ("trial-balance", "/b/riverside/ledger"),
        ),
    ),
    ("demo-approver@riverside", (("bank-changes", "/b/riverside/bank-changes"),)),
    (
        "demo-admin@riverside",
        (("jobs", "/b/riverside/jobs"), ("webhooks", "/b/riverside/admin/webhooks")),
    ),
    (
        "demo-provider@riverside",
        (
            ("portal-statement", "/portal/riverside"),
            ("portal-queries", "/portal/riverside/queries"),
        ),
    ),
)


class PageFailed(RuntimeError):
    """A page to photograph did not answer 200."""


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    if "/login" in page.url:
        raise PageFailed(f"{username} could not sign in")


def request_bank_change(page: Page, party_id: int) -> None:
    """The clerk asks for new bank details for a provider (for the approver's page)."""
    page.goto(f"/b/riverside/parties/{party_id}")
    page.get_by_text("Request a change of bank details").click()
    page.get_by_label("Kind of account").select_option("uk_sort_code")
    page.get_by_label("Sort code (UK)").fill("40-47-84")
    page.get_by_label("Account number").fill("70872490")
    page.get_by_label("Why, and how the request was verified").fill(
        "Letter on the provider's paper; confirmed by call-back to the number on file."
    )
    page.get_by_role("button", name="Request the change").click()
    page.wait_for_load_state("networkidle")
    if "requested=1" not in page.url:
        raise PageFailed(f"the bank-detail change for party {party_id} was refused")


def shoot(page: Page, path: str, target: Path) -> None:
    answer = page.goto(path)
    if answer is None or answer.status != 200:
        raise PageFailed(f"{path} answered {answer.status if answer else 'nothing'}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(target), full_page=False)


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"no {CHROMIUM}: run `bash scripts/sysdeps.sh test` first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="remit-shots-"))
    try:
        key = seed_demo(work / "remit.db")
        with (
            serve(f"sqlite:///{work / 'remit.db'}", key, work / "server.log") as server,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )  # root in CI
            for username, pages in PAGES:
                context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
                page = context.new_page()
                sign_in(page, username)
                for name, path in pages:
                    target = OUT / f"{name}.png"
                    shoot(page, path, target)
                    print(f"{target.relative_to(ROOT)}  ({username.split('@')[0]}, {path})")
                if username == "demo-clerk@riverside":
                    request_bank_change(page, 2)
                context.close()
            browser.close()
    except PageFailed as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
