"""The payment run pages (issue 10, point 10), as two people use them on the demo books:
a clerk previews and prepares, an approver approves (never the clerk), the bank file is
released and downloaded byte-identical, a payment's remittance advice is read as a page,
PDF and CSV, a return re-opens its items; the API does the same with its tokens."""

from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient
from pypdf import PdfReader

from remit.access import tokens
from remit.access.service import actor_for
from remit.formats import nacha
from remit.ledger import service as ledger
from remit.testkit.web import sign_in
from remit.web.app import create_app

VALLEY = "valley-app"
TODAY = ledger.today_in("America/Los_Angeles").isoformat()  # valley-app's day of release


def client_as(database, username: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(database))
    return client, sign_in(client, username)


def version_on(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, "no action form with the run's version"
    return found.group(1)


def test_a_run_through_two_people_in_the_browser(demo_db):
    clerk, clerk_csrf = client_as(demo_db, f"demo-clerk@{VALLEY}")
    approver, approver_csrf = client_as(demo_db, f"demo-approver@{VALLEY}")
    manager, manager_csrf = client_as(demo_db, f"demo-manager@{VALLEY}")
    listing = clerk.get(f"/b/{VALLEY}/payments")
    assert listing.status_code == 200 and "waits for approval" in listing.text
    assert "$" in listing.text and "243699" not in listing.text  # money, never minor units

    # the demo's run 2 (prepared by the clerk): the clerk is offered no approval
    page = clerk.get(f"/b/{VALLEY}/payments/runs/2").text
    assert "waits for approval by someone other than demo-clerk@valley-app" in page
    assert ">Approve<" not in page
    forced = clerk.post(
        f"/b/{VALLEY}/payments/runs/2/approve",
        data={"csrf_token": clerk_csrf, "version": "1"},
        follow_redirects=False,
    )
    assert forced.status_code == 403
    page = approver.get(f"/b/{VALLEY}/payments/runs/2").text
    assert ">Approve<" in page and "This run is over it" in page  # $50,000.00 limit
    done = approver.post(
        f"/b/{VALLEY}/payments/runs/2/approve",
        data={"csrf_token": approver_csrf, "version": version_on(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    stale = manager.post(
        f"/b/{VALLEY}/payments/runs/2/approve",
        data={"csrf_token": manager_csrf, "version": "1"},
        follow_redirects=False,
    )
    assert stale.status_code == 409  # the page the manager had was before the first approval
    page = manager.get(f"/b/{VALLEY}/payments/runs/2").text
    assert "Give the second approval" in page
    manager.post(
        f"/b/{VALLEY}/payments/runs/2/approve",
        data={"csrf_token": manager_csrf, "version": version_on(page)},
    )
    page = approver.get(f"/b/{VALLEY}/payments/runs/2").text
    assert "Release: write the bank files" in page
    approver.post(
        f"/b/{VALLEY}/payments/runs/2/release",
        data={"csrf_token": approver_csrf, "version": version_on(page)},
    )
    page = approver.get(f"/b/{VALLEY}/payments/runs/2").text
    assert "released" in page
    link = re.search(r'href="(/b/valley-app/payments/runs/2/files/\d+)"', page)
    assert link, "no bank file link"
    first, second = approver.get(link.group(1)), approver.get(link.group(1))
    assert first.status_code == 200 and first.content == second.content
    assert "attachment" in first.headers["content-disposition"]
    assert nacha.check(first.content).valid
    assert clerk.get(link.group(1)).status_code == 403  # a clerk does not take bank files

    # a payment's remittance advice: the page, the PDF and the CSV
    payment = re.search(r'href="/b/valley-app/payment/(\d+)">(R2-\d+)<', page)
    assert payment
    payment_id, reference = payment.groups()
    shown = clerk.get(f"/b/{VALLEY}/payment/{payment_id}").text
    assert "What it covers" in shown and "Total" in shown and "$" in shown
    pdf = clerk.get(f"/b/{VALLEY}/payment/{payment_id}/advice.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Remittance advice" in text and reference in text
    rows = list(
        csv.reader(io.StringIO(clerk.get(f"/b/{VALLEY}/payment/{payment_id}/advice.csv").text))
    )
    assert rows[0][:4] == ["Payment", "Payee", "Pay date", "Document"] and rows[1][0] == reference
    run_csv = clerk.get(f"/b/{VALLEY}/payments/runs/2/remittance.csv").text.splitlines()
    assert run_csv[0] == "payment_id,payee_id,payable_id,reference,amount_minor,currency"

    # the bank returns it: the items are open for another run
    bad = clerk.post(
        f"/b/{VALLEY}/payment/{payment_id}/return",
        data={"csrf_token": clerk_csrf, "code": "", "returned_on": "yesterday"},
    )
    assert bad.status_code == 422 and "Nothing was saved" in bad.text
    clerk.post(
        f"/b/{VALLEY}/payment/{payment_id}/return",
        data={"csrf_token": clerk_csrf, "code": "R03", "returned_on": TODAY},
    )
    assert "returned" in clerk.get(f"/b/{VALLEY}/payment/{payment_id}").text
    found = clerk.get(f"/b/{VALLEY}/payments/search", params={"q": reference}).text
    assert reference in found and "R03" in found
    preview = clerk.get(f"/b/{VALLEY}/payments/preview", params={"pay_date": "2027-01-31"})
    assert preview.status_code == 200 and "Prepare this run" in preview.text


def test_the_preview_names_what_it_leaves_out_and_bad_dates_are_named(demo_db):
    clerk, _ = client_as(demo_db, "demo-clerk@riverside")
    bad = clerk.get("/b/riverside/payments/preview", params={"pay_date": "31/12/2026"})
    assert bad.status_code == 422 and "pay_date" in bad.text
    page = clerk.get("/b/riverside/payments/preview", params={"pay_date": "2026-12-31"}).text
    assert "Left out" in page and "£" in page
    assert "item(s) wait in runs not yet released" not in page  # run 1 paid its items
    auditor, _ = client_as(demo_db, "demo-auditor@riverside")
    assert auditor.get("/b/riverside/payments/runs/1").status_code == 200
    assert "Release:" not in auditor.get("/b/riverside/payments/runs/1").text
    other, _ = client_as(demo_db, "demo-clerk@valley-app")
    assert other.get("/b/riverside/payments/runs/1").status_code in (403, 404)
    assert other.get("/b/valley-app/payments/runs/1").status_code == 404  # riverside's run


def test_the_api_prepares_and_approves_with_four_eyes(demo_db):
    with demo_db.write() as conn:
        book_id = ledger.book_id_for(conn, VALLEY)
        admin = actor_for(conn, f"demo-admin@{VALLEY}")
        issued = {
            who: tokens.issue_token(
                conn,
                admin,
                book_id,
                f"api {who}",
                ["payments:read", "payments:write", "payments:approve"],
                user_id=actor_for(conn, f"demo-{who}@{VALLEY}").user_id,
            ).token
            for who in ("clerk", "approver")
        }
    api = TestClient(create_app(demo_db))

    def call(who: str, method: str, path: str, key: str | None = None, **body):
        headers = {"Authorization": f"Bearer {issued[who]}"}
        if key:
            headers["Idempotency-Key"] = key
        url = f"/api/v1/books/{VALLEY}/payments{path}"
        return api.request(method, url, headers=headers, json=body or None)

    listed = call("clerk", "GET", "/runs")
    assert listed.status_code == 200 and listed.json()["items"][0]["status"] == "prepared"
    own = call("clerk", "POST", "/runs/2/approve", "k1", version=1)
    assert own.status_code == 403
    done = call("approver", "POST", "/runs/2/approve", "k2", version=1)
    assert done.status_code == 200 and done.json()["needs_second_approver"] is True
    again = call("approver", "POST", "/runs/2/approve", "k2", version=1)
    assert again.json() == done.json() and again.headers.get("idempotent-replayed") == "true"
    payments = call("clerk", "GET", "/runs/2/payments").json()["items"]
    assert payments and payments[0]["amount"]["currency"] == "USD"
    assert call("clerk", "GET", f"/{payments[0]['id']}").json()["reference"].startswith("R2-")


def test_a_provider_reads_its_own_remittance_advice_in_the_portal_and_no_one_elses(demo_db):
    provider, _ = client_as(demo_db, "demo-provider@riverside")
    page = provider.get("/portal/riverside/remittances")
    assert page.status_code == 200 and "Remittance advice" in page.text
    found = re.search(r'href="/portal/riverside/remittances/(\d+)\.pdf"', page.text)
    assert found, "the demo provider was paid in the demo's run"
    payment_id = found.group(1)
    assert "R1-" in page.text and "sent to your bank" in page.text and "£" in page.text
    pdf = provider.get(f"/portal/riverside/remittances/{payment_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Remittance advice" in text and "Riverside Council" in text
    other, _ = client_as(demo_db, "demo-provider2@riverside")
    assert other.get(f"/portal/riverside/remittances/{payment_id}.pdf").status_code == 404
    assert other.get(f"/portal/riverside/remittances/{payment_id}.csv").status_code == 404
    assert "No payments yet" in other.get("/portal/riverside/remittances").text
    client, _ = client_as(demo_db, "demo-client@riverside")
    assert client.get(f"/portal/riverside/remittances/{payment_id}.pdf").status_code == 404


def test_the_provider_page_lists_its_payments(demo_db):
    clerk, _ = client_as(demo_db, "demo-clerk@riverside")
    with demo_db.read() as conn:
        party_id = actor_for(conn, "demo-provider@riverside").party_in(
            ledger.book_id_for(conn, "riverside")
        )
    page = clerk.get(f"/b/riverside/parties/{party_id}").text
    section = page.split('id="payments"', 1)[1].split("<h2", 1)[0]
    assert "R1-" in section and "released" in section and "£" in section
    assert re.search(r'href="/b/riverside/payment/\d+"', section)


def test_the_queue_offers_a_run_to_its_approvers_never_to_its_preparer(demo_db):
    approver, _ = client_as(demo_db, f"demo-approver@{VALLEY}")
    page = approver.get(f"/b/{VALLEY}/queue").text
    assert "Payment runs waiting for your approval" in page
    section = page.split("Payment runs waiting for your approval", 1)[1].split("<h", 1)[0]
    # The agency's last provider is held (its provider file lacks the signed rate
    # statement): nine of the ten providers are paid.
    assert f'href="/b/{VALLEY}/payments/runs/2"' in section and "$262,146.49" in section
    assert "9 payment(s)" in section
    clerk, _ = client_as(demo_db, f"demo-clerk@{VALLEY}")
    assert "Payment runs waiting for your approval" not in clerk.get(f"/b/{VALLEY}/queue").text
    manager, _ = client_as(demo_db, f"demo-manager@{VALLEY}")
    assert f'href="/b/{VALLEY}/payments/runs/2"' in manager.get(f"/b/{VALLEY}/queue").text


def test_a_run_for_one_cost_centre_from_the_preview_page(demo_db):
    clerk, csrf = client_as(demo_db, "demo-clerk@riverside")
    page = clerk.get("/b/riverside/payments").text
    assert '<select id="cost_centre"' in page and ">OP-HOMECARE<" in page
    day = "2026-12-31"
    every = clerk.get("/b/riverside/payments/preview", params={"pay_date": day}).text
    one = clerk.get(
        "/b/riverside/payments/preview", params={"pay_date": day, "cost_centre": "OP-HOMECARE"}
    ).text
    assert "Only cost centre <strong>OP-HOMECARE</strong>" in one
    count = re.compile(r"Prepare this run \(([\d,]+) payments\)")
    assert 0 < int(count.search(one).group(1)) < int(count.search(every).group(1))
    bad = clerk.get("/b/riverside/payments/preview", params={"pay_date": day, "cost_centre": "A,B"})
    assert bad.status_code == 422 and "cost_centre" in bad.text
    token = re.search(r'<input type="hidden" name="once" value="([^"]+)">', one).group(1)
    made = clerk.post(
        "/b/riverside/payments/runs",
        data={
            "csrf_token": csrf,
            "once": token,
            "pay_date": day,
            "cost_centre": "OP-HOMECARE",
        },
        follow_redirects=True,
    )
    assert made.status_code == 200
    assert "Prepared for" in made.text and "cost centre OP-HOMECARE" in made.text
