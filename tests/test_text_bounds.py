"""Text that would break later is refused where it comes in, with its line and field:
control characters, over-long values, dates outside 1900-2100, files with only a header;
and the care JSON import's replay and valid-only mode."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from remit.access import tokens
from remit.access.service import actor_for
from remit.care import exchange
from remit.errors import ValidationFailed
from remit.ledger.service import book_id_for
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.reports.tables import put_cell, workbook_bytes
from remit.testkit.web import api_token
from remit.web.app import create_app

BOOK = "riverside"
HEAD = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
ROW = "R{n},C1,P1,{carer},PC,app,{day}T09:00:00,{day}T09:30:00\n"


def actual_csv(*carers: str, day: str = "2026-11-02") -> bytes:
    rows = "".join(ROW.format(n=n, carer=c, day=day) for n, c in enumerate(carers, start=1))
    return (HEAD + rows).encode("utf-8")


def problems_of(checked: exchange.Checked) -> set[tuple[int | None, str, str]]:
    return {(p.line, p.field, p.check) for p in checked.problems}


@pytest.mark.parametrize(
    ("carer", "check"),
    [
        ("K\x0b1", "control_character"),  # the vertical tab that broke the self-bill XLSX
        ("K\x001", "control_character"),
        ("K\ufffe1", "control_character"),  # a noncharacter: its XLSX would not open
        ("K" * 5000, "length"),
        ('"K\n1"', "control_character"),  # a quoted line break: one record per line
    ],
)
def test_an_actual_file_refuses_bad_text_with_its_line_and_field(carer, check):
    checked = exchange.read_actual(actual_csv("K0", carer), "ecm.csv")
    assert (3, "carer_id", check) in problems_of(checked)
    assert all(p.line == 3 for p in checked.problems)  # the good line stays good


def test_an_unknown_column_is_free_text_of_at_most_4000_characters():
    content = (HEAD.rstrip("\n") + ",note\n" + ROW.rstrip("\n") + ",{note}\n").format(
        n=1, carer="K1", day="2026-11-02", note="x" * 4001
    )
    assert problems_of(exchange.read_actual(content.encode(), "ecm.csv")) == {(2, "note", "length")}


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01"])
def test_dates_outside_1900_to_2100_are_refused(day):
    checked = exchange.read_actual(actual_csv("K1", day=day), "ecm.csv")
    assert {(2, "check_in", "date_range"), (2, "check_out", "date_range")} <= problems_of(checked)
    planned = exchange.read_planned(
        f"visit_id,client_id,provider_id,service_code,start,end\nV1,C1,P1,PC,"
        f"{day}T09:00,{day}T09:30\n".encode(),
        "planned.csv",
    )
    assert (2, "start", "date_range") in problems_of(planned)
    rates = exchange.read_rates(
        f"provider_id,service_code,rate_per_hour,currency,effective_from\nP1,PC,20,GBP,{day}\n".encode(),
        "rates.csv",
    )
    assert (2, "effective_from", "date_range") in problems_of(rates)


def test_a_date_in_range_passes():
    assert exchange.read_actual(actual_csv("K1", day="1900-01-01"), "ecm.csv").problems == []


@pytest.mark.parametrize("reader", [exchange.read_actual, exchange.read_planned])
def test_a_header_only_file_says_there_is_nothing_to_import(reader):
    header = HEAD if reader is exchange.read_actual else "visit_id,client_id,provider_id,"
    header += "" if reader is exchange.read_actual else "service_code,start,end\n"
    with pytest.raises(ValidationFailed) as caught:
        reader(header.encode(), "empty.csv")
    assert caught.value.problems[0].check == "empty"
    assert "nothing to import" in str(caught.value.problems[0])


def test_the_xlsx_writer_keeps_older_text_with_control_characters_readable():
    book = Workbook()
    put_cell(book.active, 1, 1, "K\x0b1")
    put_cell(book.active, 1, 2, "=HYPERLINK(1)")
    put_cell(book.active, 1, 3, 42)
    sheet = load_workbook(io.BytesIO(workbook_bytes(book))).active
    assert [c.value for c in sheet[1]] == ["K\ufffd1", "=HYPERLINK(1)", 42]
    assert sheet["B1"].quotePrefix and sheet["B1"].data_type == "s"


# ---------------------------------------------------------------- the care JSON import


@pytest.fixture
def care_api(demo_db):
    with demo_db.read() as conn:
        book_id = book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        refs = {
            role: parties.get_party(
                conn, clerk, book_id, min(parties.party_ids_with_role(conn, book_id, role))
            )["ref"]
            for role in ("client", "provider")
        }
    token = api_token(demo_db, list(tokens.SCOPES), "care-import")
    client = TestClient(create_app(demo_db))
    return client, {"Authorization": f"Bearer {token}"}, refs


def record(refs: dict[str, str], n: int, **changes: str) -> dict[str, str]:
    return {
        "record_id": f"API-{n}",
        "client_id": refs["client"],
        "provider_id": refs["provider"],
        "carer_id": f"K{n}",
        "service_code": "PC",
        "method": "app",
        "check_in": "2027-03-01T09:00:00",
        "check_out": "2027-03-01T09:30:00",
        **changes,
    }


URL = f"/api/v1/books/{BOOK}/care/actual-records"


def test_the_care_json_import_replays_the_same_records_once(care_api):
    client, auth, refs = care_api
    body = {"records": [record(refs, 1), record(refs, 2)]}
    first = client.post(URL, json=body, headers={**auth, "Idempotency-Key": "care-1"})
    assert first.status_code == 201, first.text
    assert first.json()["imported"] == 2 and not first.json()["replayed"]
    again = client.post(URL, json=body, headers={**auth, "Idempotency-Key": "care-1"})
    assert again.json() == first.json()  # the same key: the first answer
    resent = client.post(URL, json=body, headers={**auth, "Idempotency-Key": "care-2"})
    assert resent.status_code == 201
    assert resent.json()["replayed"] and resent.json()["imported"] == 0  # the same records


def test_the_care_json_import_all_or_nothing_and_valid_only(care_api):
    client, auth, refs = care_api
    records = [record(refs, 3), record(refs, 4, carer_id="K\u000b4"), record(refs, 5)]
    refused = client.post(
        URL, json={"records": records}, headers={**auth, "Idempotency-Key": "care-3"}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    errors = refused.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(2, "carer_id")], errors
    partial = client.post(
        URL,
        json={"records": records, "valid_only": True},
        headers={**auth, "Idempotency-Key": "care-4"},
    )
    assert partial.status_code == 201, partial.text
    answer = partial.json()
    assert (answer["imported"], answer["rejected"], answer["replayed"]) == (2, 1, False)
    assert "API-4" in answer["rejected_csv"] and "control character" in answer["rejected_csv"]


def test_a_deeply_nested_json_body_is_a_problem_not_a_server_error(care_api):
    client, auth, _ = care_api
    body = "[" * 100_000 + "]" * 100_000
    answer = client.post(
        URL,
        content=body,
        headers={**auth, "Idempotency-Key": "deep", "Content-Type": "application/json"},
    )
    assert answer.status_code in (400, 422), answer.status_code
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("ref", "name", "field"),
    [("P\r\n1", "Riverside", "ref"), ("P1", "Care\x00Ltd", "name"), ("P" * 65, "x", "ref")],
)
def test_a_party_ref_and_name_refuse_control_characters_and_length(ref, name, field):
    spec = parties.NewParty(ref, name, PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
    assert field in {p.field for p in parties.party_problems(spec)}
    quoted = parties.NewParty(
        'O\'Brien "Care"', "Zoë", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
    )
    assert parties.party_problems(quoted) == []  # quotes and letters are fine: downloads cope


@pytest.mark.parametrize("column", ["line", "*", "^carer.*$"])
def test_a_column_named_like_a_pattern_or_line_is_refused_by_name(column, care_api):
    """The table library reads "*" and "^...$" as patterns, and "line" is every row's line:
    such a column is refused by its name, in a file and in the API, never a server error."""
    content = (HEAD.rstrip("\n") + f",{column}\n" + ROW.rstrip("\n") + ",x\n").format(
        n=1, carer="K1", day="2026-11-02"
    )
    with pytest.raises(ValidationFailed) as refused:
        exchange.read_actual(content.encode(), "ecm.csv")
    assert [(p.line, p.field, p.check) for p in refused.value.problems] == [
        (1, column, "column_name")
    ]
    client, auth, refs = care_api
    answer = client.post(
        URL,
        json={"records": [record(refs, 9, **{column: "x"})], "valid_only": True},
        headers={**auth, "Idempotency-Key": f"care-column-{column}"},
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [column]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "Care\u000bweek 44"}, "description"),
        ({"description": "Care\u0000"}, "description"),
        ({"description": "d" * 501}, "description"),
        ({"entry_date": "0001-01-01"}, "entry_date"),
        ({"entry_date": "9999-12-31"}, "entry_date"),
    ],
)
def test_an_entry_posted_through_the_api_is_bounded_like_an_entry_file(care_api, changes, field):
    client, auth, _ = care_api
    entry = {
        "entry_date": "2026-11-02",
        "description": "Care, week 44",
        "postings": [
            {"account": "5000", "amount_minor": 12345, "currency": "GBP"},
            {"account": "1000", "amount_minor": -12345, "currency": "GBP"},
        ],
        **changes,
    }
    url = f"/api/v1/books/{BOOK}/entries"
    answer = client.post(url, json=entry, headers={**auth, "Idempotency-Key": f"e-{field}-1"})
    assert answer.status_code == 422, answer.text
    assert field in {e["field"] for e in answer.json()["errors"]}
    entry.update({"description": "Care, week 44", "entry_date": "2026-11-02"})
    fine = client.post(url, json=entry, headers={**auth, "Idempotency-Key": f"e-{field}-2"})
    assert fine.status_code == 201, fine.text


def test_the_xlsx_writer_replaces_what_openpyxl_refuses_and_what_xml_cannot_hold():
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # noqa: PLC0415

    from remit.reports import tables  # noqa: PLC0415

    every = [chr(c) for c in range(0x10000)]
    assert {c for c in every if ILLEGAL_CHARACTERS_RE.match(c)} < {
        c for c in every if tables._XML_REFUSED.match(c)
    }
    workbook = Workbook()
    put_cell(workbook.active, 1, 1, "K\ufffeX\uffff")
    opened = load_workbook(io.BytesIO(workbook_bytes(workbook)))  # a file that opens
    assert opened.active.cell(1, 1).value == "K\ufffdX\ufffd"


@pytest.mark.parametrize(
    "content",
    [
        '{"entries": [{"amount_minor": ' + "9" * 5000 + "}]}",  # past Python's integer limit
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_an_unreadable_json_entry_file_is_a_problem_not_a_fault(content):
    from remit.ledger.entryfile import parse_entry_file  # noqa: PLC0415

    parsed = parse_entry_file(content.encode(), "entries.json")
    assert [(p.field, p.check) for p in parsed.problems] == [("file", "json_syntax")]
    assert parsed.entries == []
