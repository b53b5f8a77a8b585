"""A payment run of ``N`` payments (default 100,000) from prepare to release, measured
(issue 10, "Speed": <= 20 s on SQLite and on PostgreSQL, once as NACHA, once as pain.001).

``python -m bench payments-runs --db sqlite|postgresql|both --format nacha|pain.001|both
[--payments N] [--naive-sample 2000]``

The book (not timed): ``N`` providers made by ``parties.create_parties`` in batches; each
with an active bank account (US ABA routing and account for NACHA, a German IBAN for
pain.001 in EUR). The parties service has no bulk path for bank details (a change is
requested and approved one party at a time, each audited), so the bench writes the rows
that ``request_bank_change`` + ``approve_bank_change`` leave, sealed by the same ``Vault``,
straight into the parties store in one ``executemany`` each: the fastest honest way, and it
says so in its output. Then one bill per provider (``ledger.post_entries``, 20,000 entries a
call), the payments-in-transit account and a house account with the scheme's originator.

Timed, each step its own transaction and commit: ``prepare_run`` (a clerk), ``approve_run``
(a manager, no limit), ``release_run`` (another manager: the bank file written and its
digest recorded, one entry per payment settling its bill), the file in hand
(``file_bytes``: written again from the run and checked against the digest, as a download
does) and one remittance CSV for the run. No remittance module exists yet: the bench reads
the run's payments and items in two queries and writes them with
``formats.offline.remittance_csv`` (the columns of the offline command's remittance).

The naive path: the same release one row at a time for a sample of payments (default
2,000) of a second book: per payment, its items read one by one (``payment_items``) and its
entry posted alone (``posting.post``), extrapolated to ``N`` and printed beside the run as a
ratio.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import Connection, insert, select

from bench.ledger import open_store
from remit import composition
from remit.access.model import Actor, Role
from remit.db import Database
from remit.formats.offline import remittance_csv
from remit.formats.payfile import FilePayment, RemittanceLine
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankChangeStatus, BankDetails, BankScheme, PartyKind, PartyRole
from remit.parties.store import bank_accounts, bank_changes
from remit.parties.store import parties as party_table
from remit.payments import house, runs
from remit.payments.model import NewHouseAccount
from remit.payments.store import run_items, run_payments
from remit.secrets import Vault
from remit.testkit import person
from remit.timestamps import utc_now_text

OUT_DIR = Path(__file__).parent / "out"
DEFAULT_PAYMENTS = 100_000
DEFAULT_NAIVE = 2_000
TARGET_S = 20.0
BATCH = 20_000
FORMATS = ("nacha", "pain.001")
CURRENCY = {"nacha": "USD", "pain.001": "EUR"}
ROUTING = ("021000021", "011000015", "026009593", "111000025")
NACHA = {
    "immediate_destination": "011000015",
    "immediate_origin": "1234567890",
    "destination_name": "FEDERAL RESERVE BANK",
    "origin_name": "BENCH AGENCY",
    "company_name": "BENCH AGENCY",
    "company_id": "1234567890",
    "odfi_routing": "021000021",
    "sec_code": "CCD",
    "addenda": True,
    "entry_description": "PROVIDERS",
}
SEPA = {"name": "BENCH AGENCY", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}
T = TypeVar("T")
# payments.remittance.run_remittance_csv where it exists (the lead's remittance module);
# else the bench writes the run's CSV itself (``remittance`` below) and says so.
RUN_REMITTANCE: Callable[..., bytes] | None = (
    getattr(importlib.import_module("remit.payments.remittance"), "run_remittance_csv", None)
    if importlib.util.find_spec("remit.payments.remittance") is not None
    else None
)
REMITTANCE_BY = (
    "payments.remittance.run_remittance_csv"
    if RUN_REMITTANCE is not None
    else "the bench with formats.offline.remittance_csv: no remittance module yet"
)


@dataclass(slots=True)
class Figures:
    """One measured run (seconds and counts); written as JSON."""

    db: str
    format: str
    payments: int
    setup: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    naive_sample: int = 0
    naive_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(self.steps.values())

    @property
    def naive_extrapolated_s(self) -> float:
        return self.naive_s * self.payments / self.naive_sample if self.naive_sample else 0.0

    @property
    def passed(self) -> bool:
        return self.total_s <= TARGET_S


def timed(into: dict[str, float], name: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = step()
    into[name] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------- the book


def iban_de(n: int) -> str:
    """A German IBAN with right check digits for account ``n`` (bank code 37040044)."""
    bban = f"37040044{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def bank_details(fmt: str, n: int) -> BankDetails:
    if fmt == "nacha":
        return BankDetails(
            BankScheme.US_ABA,
            {
                "routing_number": ROUTING[n % len(ROUTING)],
                "account_number": f"{100_000_000 + n}",
                "account_type": "checking",
            },
        )
    return BankDetails(BankScheme.IBAN, {"iban": iban_de(n)})


def make_book(conn: Connection, fmt: str, code: str) -> int:
    system = Actor.system("bench")
    currency = CURRENCY[fmt]
    book_id = ledger.create_book(conn, system, code, f"Bench {fmt}", currency, "UTC")
    ledger.open_accounts(
        conn,
        system,
        book_id,
        [
            AccountSpec("1000", "Bank", AccountType.ASSET),
            AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
            AccountSpec("2050", "Payments in transit", AccountType.LIABILITY),
            AccountSpec("5000", "Care expense", AccountType.EXPENSE),
        ],
    )
    house.add_house_account(
        conn,
        system,
        book_id,
        NewHouseAccount(
            "OPS",
            "Operations",
            "1000",
            currency,
            (fmt,),
            {"nacha": NACHA} if fmt == "nacha" else {"sepa": SEPA},
        ),
    )
    return book_id


def add_payees(conn: Connection, vault: Vault, book_id: int, fmt: str, count: int) -> list[int]:
    system = Actor.system("bench")
    ids: list[int] = []
    for start in range(0, count, BATCH):
        ids += parties.create_parties(
            conn,
            system,
            book_id,
            [
                parties.NewParty(
                    f"P{n:07d}",
                    f"Provider {n} Care",
                    PartyKind.ORGANISATION,
                    (PartyRole.PROVIDER,),
                )
                for n in range(start, min(count, start + BATCH))
            ],
        )
    # What request_bank_change + approve_bank_change leave: an approved change and the
    # active account it made, sealed by the vault (no bulk path in the parties service).
    now = utc_now_text()
    changes, sealed = [], []
    for n, party_id in enumerate(ids):
        clean = bank_details(fmt, n).normalised()
        record = clean.as_record()
        ciphertext = vault.encrypt_json(record)
        values = {
            "party_id": party_id,
            "scheme": clean.scheme.value,
            "ciphertext": ciphertext,
            "masked": clean.masked(),
            "fingerprint": vault.fingerprint(record),
        }
        sealed.append(values)
        changes.append(
            {
                **values,
                "status": BankChangeStatus.APPROVED.value,
                "reason": "bench",
                "requested_by": "bench-clerk",
                "requested_at": now,
                "decided_by": "bench-approver",
                "decided_at": now,
                "decision_note": "",
            }
        )
    conn.execute(insert(bank_changes), changes)
    bc = bank_changes.c
    change_of = dict(
        conn.execute(
            select(bc.party_id, bc.id)
            .join(party_table, party_table.c.id == bc.party_id)
            .where(party_table.c.book_id == book_id)
        ).all()
    )
    conn.execute(
        insert(bank_accounts),
        [
            {**v, "status": "active", "change_id": change_of[v["party_id"]], "activated_at": now}
            for v in sealed
        ],
    )
    return ids


def post_bills(
    conn: Connection, book_id: int, fmt: str, party_ids: Sequence[int], day: date
) -> None:
    system = Actor.system("bench")
    currency = CURRENCY[fmt]
    for start in range(0, len(party_ids), BATCH):
        drafts = []
        for n in range(start, min(len(party_ids), start + BATCH)):
            amount = 1_000 + (n * 7_919) % 250_000
            drafts.append(
                EntryDraft(
                    day,
                    f"Self-bill {n}",
                    f"bill-{n}",
                    (
                        PostingDraft("5000", amount, currency),
                        PostingDraft("2000", -amount, currency, party_ids[n], doc_ref=f"SB-{n}"),
                    ),
                )
            )
        posting.post_entries(conn, system, book_id, drafts)


def build(database: Database, vault: Vault, fmt: str, code: str, count: int,
          setup: dict[str, float]) -> int:  # fmt: skip
    with database.write() as conn:
        book_id = make_book(conn, fmt, code)
        today = ledger.book_today(conn, book_id)
    with database.write() as conn:
        ids = timed(setup, "payees_s", lambda: add_payees(conn, vault, book_id, fmt, count))
    with database.write() as conn:
        day = today - timedelta(days=20)
        timed(setup, "bills_s", lambda: post_bills(conn, book_id, fmt, ids, day))
    return book_id


# ---------------------------------------------------------------- the run


def remittance(conn: Connection, book_id: int, run_id: int) -> str:
    """One remittance CSV for the run: every payment and the items it pays."""
    rp, ri = run_payments.c, run_items.c
    payments = conn.execute(
        select(rp.id, rp.party_id, rp.reference, rp.amount_minor, rp.currency)
        .where(rp.run_id == run_id)
        .order_by(rp.id)
    ).all()
    lines: dict[int, list[RemittanceLine]] = {int(p.id): [] for p in payments}
    for payment_id, item_id, doc_ref, open_minor in conn.execute(
        select(ri.payment_id, ri.item_id, ri.doc_ref, ri.open_minor)
        .where(ri.run_id == run_id)
        .order_by(ri.payment_id, ri.item_id)
    ):
        lines[int(payment_id)].append(RemittanceLine(str(item_id), str(doc_ref), -int(open_minor)))
    names = parties.party_names(conn, book_id, [int(p.party_id) for p in payments])
    return remittance_csv(
        FilePayment(
            str(p.reference),
            names.get(int(p.party_id), (str(p.party_id), ""))[0],
            "",
            int(p.amount_minor),
            str(p.currency),
            str(p.reference),
            {},
            tuple(lines[int(p.id)]),
        )
        for p in payments
    )


def run_once(database: Database, vault: Vault, book_id: int, pay_date: date,
             out: Path, figures: Figures) -> None:  # fmt: skip
    clerk = person("bench-clerk", book_id, Role.CLERK)
    approver = person("bench-approver", book_id, Role.MANAGER)
    releaser = person("bench-releaser", book_id, Role.MANAGER)
    steps = figures.steps

    def prepare() -> Any:
        with database.write() as conn:
            return runs.prepare_run(conn, clerk, book_id, pay_date).run

    run = timed(steps, "prepare_s", prepare)

    def approve() -> Any:
        with database.write() as conn:
            return runs.approve_run(conn, approver, book_id, run.id, version=run.version)

    run = timed(steps, "approve_s", approve)

    def release() -> Any:
        with database.write() as conn:
            return runs.release_run(conn, releaser, vault, book_id, run.id, version=run.version)

    run = timed(steps, "release_s", release)

    def download() -> int:
        with database.write() as conn:
            written = 0
            for f in runs.list_files(conn, releaser, book_id, run.id):
                _, data = runs.file_bytes(conn, releaser, vault, book_id, run.id, f.id)
                (out / f.filename).write_bytes(data)
                written += len(data)
            return written

    figures.counts["file_bytes"] = timed(steps, "bank_file_s", download)

    def write_remittance() -> int:
        with database.read() as conn:
            if RUN_REMITTANCE is not None:  # the payments package's own, once it is there
                text = RUN_REMITTANCE(conn, releaser, book_id, run.id).decode()
            else:
                text = remittance(conn, book_id, run.id)
        (out / f"remittance-run{run.id}.csv").write_text(text)
        return text.count("\n") - 1

    figures.counts["remittance_rows"] = timed(steps, "remittance_csv_s", write_remittance)
    figures.counts["run_payments"] = run.payment_count
    figures.counts["run_items"] = run.item_count


def naive_release(database: Database, vault: Vault, fmt: str, sample: int, pay_date: date) -> float:
    """Seconds to release ``sample`` payments one row at a time: per payment its items read
    one call each and its entry posted alone (a second book, prepared and approved first)."""
    setup: dict[str, float] = {}
    book_id = build(database, vault, fmt, "naive", sample, setup)
    clerk = person("bench-clerk", book_id, Role.CLERK)
    approver = person("bench-approver", book_id, Role.MANAGER)
    poster = Actor.system("bench-releaser")
    with database.write() as conn:
        run = runs.prepare_run(conn, clerk, book_id, pay_date).run
        runs.approve_run(conn, approver, book_id, run.id, version=run.version)
        payments = runs.list_payments(conn, approver, book_id, run.id, limit=10_000)
    day = pay_date
    started = time.perf_counter()
    with database.write() as conn:
        for p in payments:
            items = runs.payment_items(conn, approver, book_id, p.id)
            posting.post(
                conn,
                poster,
                book_id,
                EntryDraft(
                    entry_date=day,
                    description=f"Payment {p.reference}",
                    idempotency_key=f"naive:{p.id}",
                    postings=(
                        PostingDraft(
                            "2000",
                            p.amount_minor,
                            p.currency,
                            p.party_id,
                            p.reference,
                            settles=tuple(int(i["item_id"]) for i in items),
                        ),
                        PostingDraft("2050", -p.amount_minor, p.currency, None, p.reference),
                    ),
                ),
            )
    return time.perf_counter() - started


def run(kind: str, fmt: str, count: int, naive_sample: int) -> Figures:
    composition.register_all()
    figures = Figures(kind, fmt, count)
    vault = Vault(Fernet.generate_key())
    out = OUT_DIR / f"payruns-{kind}-{fmt}"
    out.mkdir(parents=True, exist_ok=True)
    with open_store(kind, name="payruns") as database:
        book_id = build(database, vault, fmt, "bench", count, figures.setup)
        with database.read() as conn:
            pay_date = ledger.book_today(conn, book_id)
        run_once(database, vault, book_id, pay_date, out, figures)
        if naive_sample:
            figures.naive_sample = min(naive_sample, count)
            figures.naive_s = naive_release(database, vault, fmt, figures.naive_sample, pay_date)
    return figures


def report(f: Figures) -> str:
    lines = [
        f"payment run, {f.db}, {f.format}: {f.payments:,} payees with one bill each",
        f"  setup (not timed): payees + bank details {f.setup.get('payees_s', 0):.1f} s "
        "(create_parties in batches; bank accounts written to the parties store in bulk: "
        "no bulk path in parties.service), "
        f"bills {f.setup.get('bills_s', 0):.1f} s (post_entries, {BATCH:,} a call)",
    ]
    lines += [f"  {name[:-2]:<15} {secs:7.2f} s" for name, secs in f.steps.items()]
    verdict = "PASS" if f.passed else "FAIL"
    lines.append(f"  {'total':<15} {f.total_s:7.2f} s  (target <= {TARGET_S:.0f} s: {verdict})")
    lines.append(
        f"  run: {f.counts.get('run_payments', 0):,} payments, "
        f"{f.counts.get('run_items', 0):,} items, bank file {f.counts.get('file_bytes', 0):,} "
        f"bytes, remittance {f.counts.get('remittance_rows', 0):,} rows (written by "
        f"{REMITTANCE_BY})"
    )
    if f.naive_sample:
        ratio = f.naive_extrapolated_s / f.steps["release_s"]
        lines.append(
            f"  naive release, one payment at a time: {f.naive_s:.2f} s for "
            f"{f.naive_sample:,}, {f.naive_extrapolated_s:.1f} s extrapolated to "
            f"{f.payments:,} ({ratio:.1f}x the batched release, "
            f"{f.naive_extrapolated_s / f.total_s:.1f}x the whole run)"
        )
    return "\n".join(lines)


def write_json(f: Figures) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"payments-runs-{f.db}-{f.format.replace('.', '')}.json"
    data = {
        **asdict(f),
        "total_s": round(f.total_s, 3),
        "target_s": TARGET_S,
        "target": "PASS" if f.passed else "FAIL",
        "naive_extrapolated_s": round(f.naive_extrapolated_s, 2),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 0")
    return value


def main(argv: Sequence[str]) -> int:
    top = argparse.ArgumentParser(prog="python -m bench payments-runs", description=__doc__)
    top.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    top.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    top.add_argument("--payments", type=positive, default=DEFAULT_PAYMENTS)
    top.add_argument(
        "--naive-sample",
        type=positive,
        default=DEFAULT_NAIVE,
        help="payments released one at a time (0: skip; default %(default)s)",
    )
    args = top.parse_args(list(argv))
    if args.payments < 1:
        top.error("--payments must be at least 1")
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    formats = FORMATS if args.format == "both" else (args.format,)
    totals = []
    for kind in kinds:
        for fmt in formats:
            figures = run(kind, fmt, args.payments, args.naive_sample)
            print(report(figures))
            print(f"  figures written to {write_json(figures)}\n", flush=True)
            totals.append(figures)
    if len(totals) > 1:
        median = statistics.median(f.total_s for f in totals)
        print(f"totals: {', '.join(f'{f.db}/{f.format} {f.total_s:.2f} s' for f in totals)}; "
              f"median {median:.2f} s")  # fmt: skip
    return 0
