"""The web app in a real browser: a real server on a copy of the demo book, driven by chromium.

One server and one browser serve the whole module; each story signs its users in, in
contexts of their own, and makes the records it looks at, so that the stories hold in any
order and on any xdist worker (each worker has its own server, port and copy of the book).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from remit.demo import DEMO_PASSWORD
from remit.testkit.server import Server, serve

# One worker runs the whole module: one demo book, one server and one chromium for all.
pytestmark = pytest.mark.xdist_group("browser")

CHROMIUM = "/usr/bin/chromium"
BOOK = "riverside"
BOOK_ZONE = ZoneInfo("Europe/London")  # the demo book's time zone: its "today"
CLERK, APPROVER = "demo-clerk@riverside", "demo-approver@riverside"
PROVIDER, PROVIDER2 = "demo-provider@riverside", "demo-provider2@riverside"
CLIENT = "demo-client@riverside"
TIMEOUT_MS = 10_000
OVERDUE_PINK = "rgb(253, 236, 234)"  # remit.css: .overdue td
TIMESHEET = b"date,hours\n2026-03-02,7.5\n"

SignIn = Callable[[str], Page]


@pytest.fixture(scope="module")
def server(
    demo_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    template, key = demo_template
    work = tmp_path_factory.mktemp("browser")
    copy = work / "remit.db"
    shutil.copy(template, copy)
    with serve(f"sqlite:///{copy}", key, work / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} must be installed in CI (scripts/sysdeps.sh test)")
        pytest.skip(f"no {CHROMIUM}: run scripts/sysdeps.sh test")
    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine is slower than 5 s a page
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def new_context(browser: Browser, server: Server) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser contexts (separate cookie jars), closed when the test ends.

    Any script error or console error (a Content-Security-Policy violation is one) fails
    the test: the pages must work as served, with nothing inline."""
    opened: list[BrowserContext] = []
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # A refused page (403/404) is logged as a failed load; that is the point of it.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def make() -> BrowserContext:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", on_console)
        context.on("weberror", lambda e: errors.append(f"script error: {e.error}"))
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()
    if errors:
        pytest.fail("errors in the browser console:\n" + "\n".join(errors))


@pytest.fixture
def sign_in(new_context: Callable[[], BrowserContext]) -> SignIn:
    """A page of a new context, signed in as ``username``."""

    def signed_in(username: str) -> Page:
        page = new_context().new_page()
        submit_login(page, username, DEMO_PASSWORD)
        expect(page).not_to_have_url(re.compile(r"/login"))
        return page

    return signed_in


def submit_login(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def book_today() -> date:
    return datetime.now(BOOK_ZONE).date()


def open_case(page: Page, title: str, owner: str = "Demo Clerk") -> int:
    """Open a helpdesk case from the queue's button; returns its number."""
    page.goto(f"/b/{BOOK}/queue")
    page.get_by_role("button", name="Open a case").click()
    page.get_by_label("Type").select_option(label="Query")
    page.get_by_label("Title").fill(title)
    page.get_by_label("What happened").fill("Opened by the browser test.")
    page.get_by_label("Owner").select_option(label=owner)
    page.get_by_role("button", name="Open the case").click()
    expect(page).to_have_url(re.compile(rf"/b/{BOOK}/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{case_id} {title}")
    return case_id


def csrf_of(page: Page) -> str:
    """The session's CSRF token, from the sign-out form every staff and portal page has."""
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    assert token
    return token


def forbidden(page: Page, url: str) -> str:
    """Visit ``url``; assert it is refused (403/404) and return the page's text."""
    answer = page.goto(url)
    assert answer is not None and answer.status in (403, 404), (url, answer and answer.status)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Forbidden|Not found"))
    return page.locator("body").inner_text()


# Every form control has a label of its own (a duplicated id ties a label to the wrong one).
LABELS_JS = """() => {
  const seen = {}, dups = [];
  for (const e of document.querySelectorAll('[id]')) {
    if (seen[e.id]) dups.push('#' + e.id); seen[e.id] = true; }
  const controls = 'input:not([type=hidden]):not([type=submit]), select, textarea';
  const bare = [...document.querySelectorAll(controls)]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.name);
  return dups.concat(bare.map(n => 'unlabelled ' + n));
}"""


def assert_labelled(page: Page) -> None:
    problems = page.evaluate(LABELS_JS)
    assert problems == [], f"{page.url}: {problems}"


# ---------------------------------------------------------------- a. signing in and out


def test_wrong_password_stays_on_sign_in_right_one_lands_on_work_and_sign_out_ends_it(
    new_context: Callable[[], BrowserContext], server: Server
) -> None:
    context = new_context()
    page = context.new_page()
    submit_login(page, "demo-clerk2@riverside", "not the password")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    expect(page.get_by_label("User name")).to_have_value("demo-clerk2@riverside")
    expect(page.get_by_label("Password")).to_have_value("")

    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/b/{BOOK}/queue$"))
    expect(page.get_by_role("heading", name="My queue", level=1)).to_be_visible()
    session = [c for c in context.cookies() if c["name"] == "remit_session"]
    assert session and session[0]["httpOnly"]

    page.get_by_role("navigation", name="Main").get_by_text("demo-clerk2@riverside").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"/b/{BOOK}/queue")
    expect(page).to_have_url(re.compile(rf"/login\?next=/b/{BOOK}/queue$"))

    # The old cookie is dead on the server too, not only deleted in this browser.
    replay = new_context()
    replay.add_cookies(
        [{"name": c["name"], "value": c["value"], "url": server.url} for c in session]
    )
    again = replay.new_page()
    again.goto(f"/b/{BOOK}/queue")
    expect(again).to_have_url(re.compile(r"/login\?next="))


# ---------------------------------------------------------------- b. My queue


def test_my_queue_lists_the_clerks_cases_soonest_due_first_with_overdue_ones_marked(
    sign_in: SignIn,
) -> None:
    page = sign_in(CLERK)
    fresh_title = f"Fresh query {uuid.uuid4().hex[:6]}"
    fresh = open_case(page, fresh_title)  # due in five business days: not overdue

    page.get_by_role("link", name="My queue").click()
    expect(page).to_have_url(re.compile(rf"/b/{BOOK}/queue$"))
    table = page.get_by_role("table", name="My open cases")
    rows = table.locator("tbody tr")
    expect(rows.first).to_be_visible()
    today = book_today()
    seen: list[tuple[date, str, bool]] = []
    for i in range(rows.count()):
        row = rows.nth(i)
        due = date.fromisoformat(row.locator("td.due").inner_text().split()[0])
        marked = "overdue" in (row.get_attribute("class") or "").split()
        seen.append((due, row.locator("td").nth(1).inner_text(), marked))
        assert marked == (due < today), (due, today, row.inner_text())
        assert ("(overdue)" in row.inner_text()) == marked
    dues = [due for due, _, _ in seen]
    assert dues == sorted(dues), "My queue must list the soonest due first"
    assert any(marked for _, _, marked in seen), "the demo queue has overdue cases"
    assert (f"#{fresh} {fresh_title}", False) in [(t, m) for _, t, m in seen]

    # The highlight is really drawn (the stylesheet loads under the CSP).
    overdue_cell = table.locator("tr.overdue td.due").first
    assert overdue_cell.evaluate("e => getComputedStyle(e).backgroundColor") == OVERDUE_PINK
    assert overdue_cell.evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"
    expect(page.locator(".cards article.overdue")).to_contain_text("of them overdue")
    assert_labelled(page)

    first_due, first_title, _ = seen[0]
    table.get_by_role("link", name=first_title, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/b/{BOOK}/cases/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(first_title)
    expect(page.locator("span.due")).to_have_text(first_due.isoformat())
    assert_labelled(page)


# ---------------------------------------------------------------- c. a case's lifecycle


def test_a_query_moves_through_its_states_with_the_buttons_and_its_history_shows_each_step(
    sign_in: SignIn,
) -> None:
    page = sign_in(CLERK)
    case_id = open_case(page, f"Remittance missing {uuid.uuid4().hex[:6]}")
    state = page.locator("hgroup p strong")
    expect(state).to_have_text("open")

    def press(button: str, expected_state: str, reason: str = "") -> None:
        if reason:
            page.get_by_label("Reason or note").fill(reason)
        page.get_by_role("button", name=button, exact=True).click()
        expect(state).to_have_text(expected_state)

    press("Start work", "in progress")
    press("Wait for the party", "waiting")
    press("Start work", "in progress")
    # Resolving needs a reason: refused in place, nothing moves.
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#reason-error")).to_have_text("say why (resolve)")
    expect(state).to_have_text("in progress")
    press("Resolve", "resolved", reason="Remittance re-sent by e-mail.")
    expect(page).to_have_url(re.compile(rf"/b/{BOOK}/cases/{case_id}$"))
    expect(page.get_by_role("button", name="Resolve", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()

    steps = page.locator("ol.history li")
    expect(steps).to_have_count(5)
    expected = (
        "opened: — → open",
        "transition: open → in_progress",
        "transition: in_progress → waiting",
        "transition: waiting → in_progress",
        "transition: in_progress → resolved",
    )
    for i, step in enumerate(expected):
        expect(steps.nth(i)).to_contain_text(step)
        expect(steps.nth(i)).to_contain_text(CLERK)
    expect(steps.nth(4)).to_contain_text("Remittance re-sent by e-mail.")

    # A resolved case leaves My queue.
    page.get_by_role("link", name="My queue").click()
    table = page.get_by_role("table", name="My open cases")
    expect(table.get_by_role("link", name=re.compile(rf"^#{case_id} "))).to_have_count(0)


# ---------------------------------------------------------------- d. bank-detail change


def test_a_bank_detail_change_needs_a_second_person_and_then_shows_masked(sign_in: SignIn) -> None:
    clerk = sign_in(CLERK)
    clerk.get_by_role("link", name="Providers").click()
    listed = clerk.url
    # The search box filters the list as one types (htmx), without leaving the page.
    clerk.get_by_role("searchbox").press_sequentially("P00003")
    rows = clerk.locator("#party-rows tr")
    expect(rows).to_have_count(1)
    expect(clerk).to_have_url(listed)
    rows.get_by_role("link", name="P00003").click()
    expect(clerk).to_have_url(re.compile(rf"/b/{BOOK}/parties/\d+$"))
    party = urlparse(clerk.url).path
    bank_line = clerk.locator("dt:text-is('Bank account') + dd")
    before = bank_line.inner_text()
    assert_labelled(clerk)
    assert before.startswith("sort code **-**-")
    clerk.get_by_text("Request a change of bank details").click()
    clerk.get_by_label("Kind of account").select_option("uk_sort_code")
    clerk.get_by_label("Sort code (UK)").fill("40-47-84")
    clerk.get_by_label("Account number").fill("70872490")
    clerk.get_by_label("Why, and how the request was verified").fill(
        "Letter from the provider, confirmed by call-back to the number on file."
    )
    clerk.get_by_role("button", name="Request the change").click()
    expect(clerk.get_by_role("status")).to_contain_text("wait for a second person's approval")
    expect(
        clerk.get_by_text("A change to sort code **-**-84 acct ****2490 waits for approval")
    ).to_be_visible()
    expect(bank_line).to_have_text(before)  # nothing changes before approval

    # The clerk who asked sees the change but no button to approve it.
    clerk.goto(f"/b/{BOOK}/bank-changes")
    change = clerk.locator("article", has_text="****2490")
    expect(change).to_contain_text(f"Asked by {CLERK}")
    expect(change.get_by_role("button", name="Approve")).to_have_count(0)

    approver = sign_in(APPROVER)
    expect(approver.get_by_role("heading", name="Approvals waiting for you")).to_be_visible()
    approver.locator("li", has_text="****2490").get_by_role("link", name="Bank details of").click()
    expect(approver).to_have_url(re.compile(rf"/b/{BOOK}/bank-changes$"))
    pending = approver.locator("article", has_text="****2490")
    action = pending.locator("form", has=approver.get_by_role("button", name="Approve"))
    approve_url = action.get_attribute("action") or ""
    found = re.fullmatch(rf"/b/{BOOK}/bank-changes/(\d+)/approve", approve_url)
    assert found, approve_url
    change_id = int(found[1])

    # The clerk posting the approval anyway (with its own valid CSRF token) is refused.
    forged = clerk.request.post(
        approve_url, form={"csrf_token": csrf_of(clerk), "note": "self-approved"}, max_redirects=0
    )
    assert forged.status == 403
    clerk.reload()
    expect(clerk.locator("article", has_text="****2490")).to_have_count(1)

    pending.get_by_label("Note").fill("Confirmed by call-back.")
    pending.get_by_role("button", name="Approve").click()
    expect(approver.get_by_role("status")).to_contain_text(
        f"Change {change_id} approved; the new details are active"
    )
    expect(approver.locator("article", has_text="****2490")).to_have_count(0)

    clerk.goto(party)
    expect(bank_line).to_have_text("sort code **-**-84 acct ****2490")
    expect(clerk.get_by_text("waits for approval")).to_have_count(0)
    assert "70872490" not in clerk.content() and "404784" not in clerk.content()


# ---------------------------------------------------------------- e. portal isolation


def test_a_provider_sees_only_its_own_queries_and_files_and_a_client_no_staff_pages(
    sign_in: SignIn,
) -> None:
    tag = uuid.uuid4().hex[:6]
    subject, title = f"March invoice {tag}", f"Insurance certificate {tag}"
    mine = sign_in(PROVIDER)
    expect(mine).to_have_url(re.compile(rf"/portal/{BOOK}$"))
    provider_name = mine.get_by_role("heading", level=1).inner_text()
    mine.get_by_role("link", name="Queries").click()
    mine.get_by_label("Subject").fill(subject)
    mine.get_by_label("Your question").fill("Why was the March invoice paid short?")
    mine.get_by_role("button", name="Send").click()
    expect(mine).to_have_url(re.compile(rf"/portal/{BOOK}/queries/\d+$"))
    case_url = urlparse(mine.url).path
    case_id = int(case_url.rsplit("/", 1)[1])
    expect(mine.get_by_role("heading", level=1)).to_have_text(f"#{case_id} {subject}")
    expect(mine.locator("ol.history")).to_contain_text("Why was the March invoice paid short?")
    mine.get_by_label(re.compile("Attach a file")).set_input_files(
        {"name": "timesheet.csv", "mimeType": "text/csv", "buffer": TIMESHEET}
    )
    assert_labelled(mine)
    mine.get_by_role("button", name="Attach", exact=True).click()
    attached = mine.get_by_role("link", name="timesheet.csv")
    expect(attached).to_be_visible()
    case_doc = attached.get_attribute("href") or ""
    assert re.fullmatch(rf"/portal/{BOOK}/documents/\d+", case_doc)
    mine.get_by_role("link", name="Documents").click()
    mine.get_by_label(re.compile("^File")).set_input_files(
        {"name": "insurance.txt", "mimeType": "text/plain", "buffer": b"Policy RV-778, 2027"}
    )
    assert_labelled(mine)
    mine.get_by_label("Title").fill(title)
    mine.get_by_role("button", name="Upload").click()
    expect(mine.get_by_role("status")).to_have_text("Uploaded. Thank you.")
    party_doc = mine.get_by_role("link", name=title).get_attribute("href") or ""
    for url, content in ((case_doc, TIMESHEET), (party_doc, b"Policy RV-778, 2027")):
        own = mine.request.get(url)
        assert own.status == 200 and own.body() == content

    # Another provider, typing the first one's addresses, gets nothing of them.
    other = sign_in(PROVIDER2)
    expect(other).to_have_url(re.compile(rf"/portal/{BOOK}$"))
    assert other.get_by_role("heading", level=1).inner_text() != provider_name
    other_csrf = csrf_of(other)
    other.get_by_role("link", name="Queries").click()
    expect(other.get_by_role("main")).not_to_contain_text(subject)
    other.get_by_role("link", name="Documents").click()
    expect(other.get_by_role("main")).not_to_contain_text(title)
    for url in (
        case_url,
        case_doc,
        party_doc,
        f"/b/{BOOK}/cases/{case_id}",
        case_doc.replace("/portal/", "/b/"),
    ):
        text = forbidden(other, url)
        assert subject not in text and provider_name not in text and title not in text
        assert "timesheet" not in text
    for url in (case_doc, party_doc):
        stolen = other.request.get(url)
        assert stolen.status in (403, 404) and b"2026-03-02" not in stolen.body()
        assert b"RV-778" not in stolen.body()
    sneaked = other.request.post(
        f"{case_url}/comment",
        max_redirects=0,
        form={"csrf_token": other_csrf, "body": f"not mine {tag}"},
    )
    assert sneaked.status == 404  # as if it did not exist
    mine.goto(case_url)
    expect(mine.get_by_role("main")).not_to_contain_text(f"not mine {tag}")

    # Staff see the query and its file on the case.
    clerk = sign_in(CLERK)
    clerk.goto(f"/b/{BOOK}/cases/{case_id}")
    expect(clerk.get_by_role("heading", level=1)).to_have_text(f"#{case_id} {subject}")
    expect(clerk.locator("ol.history")).to_contain_text(PROVIDER)
    expect(clerk.get_by_role("link", name="timesheet.csv")).to_be_visible()

    # A client's portal user: its own statement, no staff pages, no provider's records.
    client = sign_in(CLIENT)
    expect(client).to_have_url(re.compile(rf"/portal/{BOOK}$"))
    nav = client.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Statement")).to_be_visible()
    expect(nav.get_by_role("link", name="My queue")).to_have_count(0)
    expect(nav.get_by_role("link", name="Providers")).to_have_count(0)
    for url in (
        f"/b/{BOOK}/queue",
        f"/b/{BOOK}/parties?role=provider",
        f"/b/{BOOK}/parties/1",
        case_url,
        case_doc,
        party_doc,
    ):
        text = forbidden(client, url)
        assert subject not in text and provider_name not in text
