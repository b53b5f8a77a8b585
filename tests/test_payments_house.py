"""The book's own bank accounts, payment blocks and the payees' bank states a payment run
reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from tests.conftest import make_book

from remit.access.model import Role
from remit.audit import audit_events
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import blocks, house
from remit.payments.model import HouseAccountStatus, NewHouseAccount
from remit.secrets import Vault
from remit.testkit import person

BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}
SEPA = {"name": "Test Council", "iban": "de89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"}


@pytest.fixture
def manager(book):
    return person("mona", book, Role.MANAGER)


@pytest.fixture
def clerk(book):
    return person("carla", book, Role.CLERK)


def ops_gbp(**changes) -> NewHouseAccount:
    values = {
        "code": "OPS-GBP",
        "name": "Operations",
        "gl_account_code": "1000",
        "currency": "GBP",
        "schemes": ("bacs18",),
        "originators": {"bacs": BACS},
    }
    return NewHouseAccount(**(values | changes))


def events(conn, action: str) -> list:
    return list(conn.execute(select(audit_events).where(audit_events.c.action == action)))


def refusal(conn, actor, book, spec) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as err:
        house.add_house_account(conn, actor, book, spec)
    return {p.field: p.check for p in err.value.problems}


# ---------------------------------------------------------------- house accounts


def test_a_house_account_is_added_masked_and_audited(db, book, manager):
    with db.write() as conn:
        account_id = house.add_house_account(conn, manager, book, ops_gbp())
    with db.read() as conn:
        shown = house.get_house_account(conn, manager, book, account_id)
        assert shown.code == "OPS-GBP" and shown.schemes == ("bacs18",)
        assert shown.status is HouseAccountStatus.ACTIVE
        assert shown.originators["bacs"]["account_number"] == "****9911"
        assert shown.originators["bacs"]["sort_code"] == "200000"  # cleaned as the file wants
        assert [a.code for a in house.list_house_accounts(conn, manager, book)] == ["OPS-GBP"]
        assert house.house_account_for(conn, book, "bacs18", "GBP").id == account_id
        added = events(conn, "payments.house_account.add")
        assert len(added) == 1 and "55779911" not in added[0].after
    with db.write() as conn:
        full = house.originator_for(conn, manager, book, account_id, "bacs18")
        assert full["account_number"] == "55779911" and full["sort_code"] == "200000"
        assert len(events(conn, "payments.house_account.originator")) == 1


def test_a_euro_account_with_sepa_details(db, book, manager):
    spec = ops_gbp(
        code="OPS-EUR",
        gl_account_code="1200",
        currency="EUR",
        schemes=("pain.001",),
        originators={"sepa": SEPA},
    )
    with db.write() as conn:
        account_id = house.add_house_account(conn, manager, book, spec)
        full = house.originator_for(conn, manager, book, account_id, "pain.001")
        assert full["iban"] == "DE89370400440532013000"
        shown = house.get_house_account(conn, manager, book, account_id)
        assert shown.originators["sepa"]["iban"] == "DE****************3000"
        with pytest.raises(NotFound, match="bacs18"):
            house.originator_for(conn, manager, book, account_id, "bacs18")
        with pytest.raises(NotFound, match="nacha in USD"):
            house.house_account_for(conn, book, "nacha", "USD")


def test_each_bad_field_is_named_and_nothing_written(db, book, manager):
    with db.write() as conn:
        found = refusal(
            conn,
            manager,
            book,
            ops_gbp(
                code="bad code!",
                gl_account_code="2000",  # a liability (and a control account)
                schemes=("bacs18", "nacha", "swift"),
                originators={"bacs": {**BACS, "sort_code": "2000001"}, "sepa": SEPA},
            ),
        )
        assert found == {
            "code": "code",
            "gl_account_code": "account_type",
            "schemes[1]": "scheme_currency",
            "nacha": "missing_table",
            "schemes[2]": "scheme",
            "bacs.sort_code": "sort_code",
            "sepa": "unused_table",
        }
        assert refusal(conn, manager, book, ops_gbp(gl_account_code="9999")) == {
            "gl_account_code": "unknown_account"
        }
        # The euro account cannot back a sterling bank account.
        assert refusal(conn, manager, book, ops_gbp(gl_account_code="1200")) == {
            "gl_account_code": "currency"
        }
        assert refusal(conn, manager, book, ops_gbp(schemes=())) == {
            "schemes": "required",
            "bacs": "unused_table",
        }
        assert events(conn, "payments.house_account.add") == []
    with db.read() as conn:
        assert house.list_house_accounts(conn, manager, book, include_closed=True) == []


def test_codes_are_unique_per_book_and_a_closed_account_pays_nothing(db, book, manager, system):
    other = make_book(db, system, "other")
    with db.write() as conn:
        account_id = house.add_house_account(conn, manager, book, ops_gbp())
        assert refusal(conn, manager, book, ops_gbp(name="Again")) == {"code": "duplicate_code"}
        house.add_house_account(conn, system, other, ops_gbp())  # the same code elsewhere
        house.close_house_account(conn, manager, book, account_id)
        with pytest.raises(Conflict):
            house.close_house_account(conn, manager, book, account_id)
        with pytest.raises(NotFound):
            house.house_account_for(conn, book, "bacs18", "GBP")
        with pytest.raises(Conflict, match="closed"):
            house.originator_for(conn, manager, book, account_id, "bacs18")
        with pytest.raises(NotFound):  # another book's account is not this book's
            house.get_house_account(conn, system, other, account_id)
        assert len(events(conn, "payments.house_account.close")) == 1
        assert house.list_house_accounts(conn, manager, book) == []


def test_only_admins_and_managers_add_accounts(db, book, manager, clerk):
    approver = person("abe", book, Role.APPROVER)
    with db.write() as conn:
        with pytest.raises(Forbidden):
            house.add_house_account(conn, clerk, book, ops_gbp())
        account_id = house.add_house_account(conn, person("ada", book, Role.ADMIN), book, ops_gbp())
        with pytest.raises(Forbidden):
            house.originator_for(conn, clerk, book, account_id, "bacs18")
        assert house.originator_for(conn, approver, book, account_id, "bacs18")["name"]
        assert house.list_house_accounts(conn, clerk, book)[0].code == "OPS-GBP"


# ---------------------------------------------------------------- payment blocks


@pytest.fixture
def provider(db, book, system):
    with db.write() as conn:
        return parties.create_party(
            conn,
            system,
            book,
            parties.NewParty("P1", "Sunrise", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
        )


def test_a_block_is_set_once_and_lifted(db, book, clerk, provider, system):
    with db.write() as conn:
        bill = ledger.post(
            conn,
            system,
            book,
            EntryDraft(
                date(2026, 10, 31),
                "bill",
                "bill-1",
                (PostingDraft("5000", 500, "GBP"), PostingDraft("2000", -500, "GBP", provider)),
            ),
        )
        item_id = open_items.open_items(conn, system, book, account="2000")[0].id
        assert bill.entry_id
        with pytest.raises(ValidationFailed) as refused:
            blocks.set_block(conn, clerk, book, open_item_id=item_id + 1, reason="other", note="")
        assert refused.value.problems[0].field == "open_item_id"
        first = blocks.set_block(
            conn, clerk, book, party_id=provider, reason="provider_on_hold", note="CQC review"
        )
        again = blocks.set_block(
            conn, clerk, book, party_id=provider, reason="provider_on_hold", note="said twice"
        )
        item = blocks.set_block(
            conn,
            clerk,
            book,
            open_item_id=item_id,
            reason="disputed_amount",
            note="",
            source="care:9",
        )
        assert again == first
        assert len(events(conn, "payments.block.set")) == 2
        frame = blocks.blocks_frame(conn, book)
        assert sorted(frame.rows(), key=str) == sorted(
            [(provider, None, "provider_on_hold"), (None, item_id, "disputed_amount")], key=str
        )
        assert [b.id for b in blocks.active_blocks(conn, book)] == [first, item]
    with db.write() as conn:
        assert blocks.lift_block(conn, clerk, book, party_id=provider, note="review passed") == [
            first
        ]
        with pytest.raises(NotFound):
            blocks.lift_block(conn, clerk, book, party_id=provider)
        assert len(events(conn, "payments.block.lift")) == 1
        assert [b.open_item_id for b in blocks.active_blocks(conn, book)] == [item_id]
        # Lifted, the same block may be set anew.
        assert blocks.set_block(
            conn, clerk, book, party_id=provider, reason="provider_on_hold", note=""
        ) not in (first, item)


def test_the_store_itself_holds_one_active_block_per_target_and_reason(db, book, clerk, provider):
    from sqlalchemy import insert  # noqa: PLC0415
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    from remit.payments.store import payment_blocks  # noqa: PLC0415

    with db.write() as conn:
        blocks.set_block(conn, clerk, book, party_id=provider, reason="other", note="")
    row = {
        "book_id": book,
        "party_id": provider,
        "target": f"party:{provider}",
        "reason": "other",
        "note": "",
        "source": "",
        "set_by": "x",
        "set_at": "2026-12-04T00:00:00Z",
    }
    with pytest.raises(IntegrityError), db.write() as conn:  # a second process, unchecked
        conn.execute(insert(payment_blocks).values(**row))
    with db.write() as conn:  # another reason, or a lifted one, is another row
        conn.execute(insert(payment_blocks).values(**(row | {"reason": "disputed_amount"})))
        conn.execute(insert(payment_blocks).values(**(row | {"lifted_at": "2026-12-04"})))


def test_bad_blocks_are_refused_naming_the_field(db, book, clerk, provider, system):
    other = make_book(db, system, "other")
    with db.write() as conn:
        stranger = parties.create_party(
            conn,
            system,
            other,
            parties.NewParty("X1", "Elsewhere", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
        )
        with pytest.raises(ValidationFailed) as err:
            blocks.set_block(conn, clerk, book, party_id=stranger, reason="other", note="")
        assert [(p.field, p.check) for p in err.value.problems] == [("party_id", "unknown_party")]
        with pytest.raises(ValidationFailed) as err:
            blocks.set_block(
                conn, clerk, book, party_id=provider, reason="late", note="a\x07b" + "x" * 10
            )
        assert {p.field: p.check for p in err.value.problems} == {
            "reason": "reason",
            "note": "control_character",
        }
        with pytest.raises(ValidationFailed) as err:
            blocks.set_block(
                conn, clerk, book, party_id=provider, open_item_id=3, reason="other", note=""
            )
        assert err.value.problems[0].check == "target"
        with pytest.raises(ValidationFailed, match="at most 500"):
            blocks.set_block(conn, clerk, book, party_id=provider, reason="other", note="n" * 501)
        with pytest.raises(Forbidden):
            blocks.set_block(
                conn, person("aud", book, Role.AUDITOR), book, party_id=provider,
                reason="other", note="",
            )  # fmt: skip
        assert blocks.active_blocks(conn, book) == []


# ---------------------------------------------------------------- payees' bank states


def test_payee_bank_states_say_active_recent_and_pending(db, book, system, provider):
    vault = Vault(Fernet.generate_key())
    clerk, approver = person("carla", book, Role.CLERK), person("abe", book, Role.APPROVER)
    details = BankDetails(
        BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
    )
    with db.write() as conn:
        second, third = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty("P2", "Oakfield", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
                parties.NewParty("P3", "No bank", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
            ],
        )
        change = parties.request_bank_change(conn, clerk, vault, book, provider, details, "form")
        account = parties.approve_bank_change(conn, approver, book, change)
        again = parties.request_bank_change(conn, clerk, vault, book, provider, details, "again")
        parties.request_bank_change(conn, clerk, vault, book, second, details, "first account")
    today = datetime.now(UTC).date()
    with db.read() as conn:
        frame = parties.payee_bank_states(conn, book)
        assert frame.rows() == [
            (provider, account, "bacs18", "GBP", True, None, True),  # a first account
            (second, None, None, None, False, None, True),
        ]
        assert parties.payee_bank_states(conn, book, [second, third])["party_id"].to_list() == [
            second
        ]
    with db.write() as conn:  # the first account replaced: a change, dated today
        replaced = parties.approve_bank_change(conn, approver, book, again)
        assert parties.payee_bank_states(conn, book, [provider]).rows() == [
            (provider, replaced, "bacs18", "GBP", True, today, False)
        ]
    empty = make_book(db, system, "empty")
    with db.read() as conn:
        assert parties.payee_bank_states(conn, empty).is_empty()


# ---------------------------------------------------------------- the commands


ORIGINATOR_TOML = """[bacs]
service_user_number = "123456"
sort_code = "20-00-00"
account_number = "55779911"
name = "TEST COUNCIL"
"""


def test_the_commands_add_list_block_and_unblock(sqlite_template, tmp_path, monkeypatch, system):
    from typer.testing import CliRunner  # noqa: PLC0415

    from remit.cli import app  # noqa: PLC0415
    from remit.db import Database  # noqa: PLC0415

    path = tmp_path / "remit.db"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database(f"sqlite:///{path}")
    book = make_book(database, system)
    with database.write() as conn:
        parties.create_party(
            conn,
            system,
            book,
            parties.NewParty("P1", "Sunrise", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
        )
    database.dispose()
    monkeypatch.setenv("REMIT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("REMIT_USER", raising=False)
    toml = tmp_path / "originator.toml"
    toml.write_text(ORIGINATOR_TOML)
    runner = CliRunner()
    add = ["payments", "house-account", "add", "--book", "test", "--code", "OPS-GBP"]
    add += ["--name", "Operations", "--gl", "1000", "--currency", "GBP", "--scheme", "bacs18"]
    result = runner.invoke(app, [*add, "--originator", str(toml)])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["payments", "house-account", "list", "--book", "test"])
    assert listed.exit_code == 0 and "OPS-GBP" in listed.output and "****9911" in listed.output
    assert "55779911" not in listed.output
    toml.write_text(ORIGINATOR_TOML.replace('"20-00-00"', '"2000001"'))
    second = [*add[:6], "OPS-2", *add[7:]]
    bad = runner.invoke(app, [*second, "--originator", str(toml)])
    assert bad.exit_code == 2
    assert "originator.toml: line 3: bacs.sort_code" in bad.output
    block = ["payments", "block", "--book", "test", "--party", "P1"]
    result = runner.invoke(app, [*block, "--reason", "provider_on_hold", "--note", "review"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, [*block, "--reason", "late"]).exit_code == 2
    unblock = runner.invoke(app, ["payments", "unblock", "--book", "test", "--party", "P1"])
    assert unblock.exit_code == 0 and "lifted 1" in unblock.output
    assert (
        runner.invoke(app, ["payments", "unblock", "--book", "test", "--party", "P1"]).exit_code
        == 2
    )
