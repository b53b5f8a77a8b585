"""Demo care monitoring for a council book: home care packages, a month of planned visits,
the carers' check-ins with the noise of real call monitoring, and the month reconciled.

One client in ten has a package from one of the home care agencies (one provider in five,
the demo's first two always among them, for the portal users): one to four visits a day
of 15 to 60 minutes, some with two carers, mostly seven days a week, at the agency's hourly
rate (GBP 20 to 25), which rises on the 15th of the month for some agencies.

The actual records are written as the exchange format's ``actual.csv`` and imported through
``imports.import_actual``, as a council's monitoring file would be; the month is then
reconciled with ``runs.reconcile_period``. The noise, per carer place: check-ins mostly
within 15 minutes of the plan and 3% 30 to 70 minutes late; 10% short calls and 4% long
ones; 3% missed, and the second carer of a two-carer visit missing 6% more often; 1.5%
checked in twice; 0.3% checked out before checking in and 0.05% never checked out (the
next morning's check-out); 1% unplanned night call-outs.

Deterministic by seed: the packages come from ``random.Random``, each record's noise from
a seeded hash of its visit's reference (stable within a Polars version).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
from sqlalchemy import Connection, and_, select

from remit.access.model import Actor, Role
from remit.care import decisions, imports, payables, runs, visits
from remit.care import service as care
from remit.care.model import Policy
from remit.care.service import DAY_SECONDS, EPOCH, NewPackage, Slot
from remit.care.store import care_runs, planned_visits, visit_outcomes
from remit.db import Database
from remit.parties import service as parties

SERVICE = "HC"  # domiciliary home care
CLIENTS_PER_PACKAGE = 10
PROVIDERS_PER_AGENCY = 5
CARERS_PER_AGENCY = 40
PACKAGE_BATCH = 2_000
RATE_FROM = date(2026, 4, 1)  # the framework's rates, from the start of the financial year
# The day's rounds: (start minutes after midnight, lengths in minutes with weights).
MORNING = ((420, 450, 480, 510, 540), ((30, 4), (45, 4), (60, 2)))
LUNCH = ((720, 750, 780), ((15, 4), (30, 6)))
TEA = ((990, 1020, 1050), ((15, 4), (30, 6)))
BED = ((1170, 1200, 1230, 1260, 1290), ((30, 7), (45, 3)))
ROUNDS = ((MORNING,), (MORNING, BED), (MORNING, LUNCH, BED), (MORNING, LUNCH, TEA, BED))
ROUND_WEIGHTS = (15, 25, 30, 30)  # 1, 2, 3 or 4 visits a day
WEEKS = (tuple(range(7)), tuple(range(5)), (0, 2, 4))  # every day, weekdays, Mon-Wed-Fri
WEEK_WEIGHTS = (85, 10, 5)
TWO_CARER_PERCENT = 12  # hoist transfers: morning and bed visits need two carers

# Per carer place, out of 10,000: what happened (the rest were ordinary visits).
MISSED, BROKEN, FORGOT, LATE, SHORT, LONG = 300, 30, 5, 300, 1_000, 400
SECOND_CARER_MISSING_PERCENT = 6
DUPLICATE_PER_MILLE = 15
UNPLANNED_PER_MILLE = 10
METHODS = ((65, "app"), (95, "phone"), (100, "manual"))  # cumulative percent


@dataclass(frozen=True, slots=True)
class CareParties:
    """The book's parties as (party id, ref) pairs."""

    providers: Sequence[tuple[int, str]]
    clients: Sequence[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Commissioned:
    """Packages as created: their ids beside the refs the monitoring file names."""

    package_ids: list[int]
    client_refs: list[str]
    provider_refs: list[str]
    package_refs: list[str]

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "package_id": self.package_ids,
                "client_ref": self.client_refs,
                "provider_ref": self.provider_refs,
                "package_ref": self.package_refs,
            },
            schema={
                "package_id": pl.Int64,
                "client_ref": pl.String,
                "provider_ref": pl.String,
                "package_ref": pl.String,
            },
        )


def staff(book_id: int, code: str) -> tuple[Actor, Actor]:
    """The demo clerk (imports, runs) and manager (policies) of a book."""
    return (
        Actor(f"demo-clerk@{code}", roles={book_id: frozenset({Role.CLERK})}),
        Actor(f"demo-manager@{code}", roles={book_id: frozenset({Role.MANAGER})}),
    )


def seed_care(
    database: Database,
    book_id: int,
    code: str,
    people: CareParties,
    first: date,
    last: date,
    seed_value: int,
    tick: Callable[[str, int, int], None],
) -> dict[str, int]:
    """Packages, the month ``first``..``last`` planned, its records imported and reconciled;
    returns the counts of each."""
    rng = random.Random(f"{seed_value}:{code}:care")  # noqa: S311 - demo data, not secrets
    clerk, manager = staff(book_id, code)
    agencies = choose_agencies(people.providers, rng)
    with database.write() as conn:
        care.set_policy(
            conn,
            manager,
            book_id,
            Policy(),
            RATE_FROM,
            note="home care framework 2026/27: the standard tolerances",
        )
        if len(agencies) > 1:  # a rural agency's contract allows ten minutes' tolerance
            care.set_policy(
                conn,
                manager,
                book_id,
                Policy(tolerance_minutes=10),
                RATE_FROM,
                agencies[1][0],
                note="contract clause 7.2: rural rounds",
            )
    news = plan_packages(people, agencies, first, last, rng)
    done = commission(
        database,
        clerk,
        book_id,
        news,
        people,
        lambda n: tick(f"{code}: care packages", n, len(news)),
    )
    with database.write() as conn:
        planned = care.generate_planned(conn, clerk, book_id, first, last)
    tick(f"{code}: planned visits", planned, planned)
    content = actual_csv(database, book_id, done, first, last, seed_value)
    with database.write() as conn:
        result = imports.import_actual(conn, clerk, book_id, f"ecm-{first:%Y-%m}.csv", content)
    tick(f"{code}: visit records", result.rows, result.rows)
    with database.write() as conn:
        what_became(conn, clerk, book_id)
    with database.write() as conn:
        summaries = runs.reconcile_period(conn, clerk, book_id, first, last)
    tick(f"{code}: care runs", len(summaries), len(summaries))
    return {
        "packages": len(news),
        "planned": planned,
        "records": result.rows,
        "runs": len(summaries),
        "cases": sum(s.case_id is not None for s in summaries),
    }


def what_became(conn: Connection, clerk: Actor, book_id: int) -> None:
    """A few visits of the month cancelled (with and without notice) or frustrated, and a
    client's three days in hospital, as a coordinator records them."""
    v = planned_visits.c
    rows = conn.execute(
        select(v.id, v.client_party_id, v.start_s).where(v.book_id == book_id).order_by(v.id)
    ).all()
    if len(rows) < 50:
        return
    for row, status, reason in (
        (rows[10], "cancelled_notice", "client at a family wedding"),
        (rows[20], "cancelled_short_notice", "client went out with family"),
        (rows[30], "frustrated", "no answer at the door"),
    ):
        visits.set_visit_status(conn, clerk, book_id, row.id, status, reason)
    stay = rows[40]
    first = EPOCH + timedelta(days=stay.start_s // DAY_SECONDS)
    ref = parties.party_names(conn, book_id, [stay.client_party_id])[stay.client_party_id][0]
    stays = (
        f"client_ref,first_day,last_day,reason\n{ref},{first},{first + timedelta(days=2)},fall\n"
    )
    imports.import_absences(conn, clerk, book_id, "stays.csv", stays.encode())


def choose_agencies(
    providers: Sequence[tuple[int, str]], rng: random.Random
) -> list[tuple[int, str]]:
    """One provider in five does home care; the first two (the portal users') always do."""
    count = max(2, len(providers) // PROVIDERS_PER_AGENCY)
    rest = rng.sample(list(providers[2:]), min(count - 2, max(0, len(providers) - 2)))
    return [*providers[:2], *rest]


def plan_packages(
    people: CareParties,
    agencies: Sequence[tuple[int, str]],
    first: date,
    last: date,
    rng: random.Random,
) -> list[NewPackage]:
    """One client in ten gets a package; a few start or end within the month. Each agency
    has one at least, the larger ones many."""
    count = max(2, len(people.clients) // CLIENTS_PER_PACKAGE)
    clients = rng.sample(list(people.clients), min(count, len(people.clients)))
    weights = [rng.choice((1, 1, 2, 3, 6)) for _ in agencies]  # a few large agencies
    base_pence = [rng.randrange(2_000, 2_501, 5) for _ in agencies]
    rises = [rng.random() < 0.3 for _ in agencies]
    middle = first + timedelta(days=14)
    out = []
    for n, (client_id, _ref) in enumerate(clients, start=1):
        a = n - 1 if n <= len(agencies) else rng.choices(range(len(agencies)), weights)[0]
        start, end = _term(first, last, rng)
        rates: tuple[tuple[date, str], ...] = ((start, _pounds(base_pence[a])),)
        if rises[a]:
            raised = _pounds(base_pence[a] + rng.randrange(40, 121, 5))
            rates = ((start, raised),) if start >= middle else (*rates, (middle, raised))
        out.append(
            NewPackage(
                f"HC-{n:06d}",
                client_id,
                agencies[a][0],
                SERVICE,
                start,
                end,
                _week(rng),
                tuple((f, r, "GBP") for f, r in rates),
            )
        )
    return out


def _term(first: date, last: date, rng: random.Random) -> tuple[date, date | None]:
    roll = rng.random()
    if roll < 0.04:  # a new package, from a day within the month
        return first + timedelta(days=rng.randrange(3, (last - first).days - 2)), None
    start = date(2024, 1, 1) + timedelta(days=rng.randrange((first - date(2024, 1, 1)).days))
    if roll < 0.07:  # ends within the month (a hospital stay, a care home, a death)
        return start, first + timedelta(days=rng.randrange(5, (last - first).days - 1))
    return start, None


def _week(rng: random.Random) -> tuple[Slot, ...]:
    rounds = rng.choices(ROUNDS, ROUND_WEIGHTS)[0]
    days = rng.choices(WEEKS, WEEK_WEIGHTS)[0]
    two = rng.randrange(100) < TWO_CARER_PERCENT
    visits = []
    for starts, lengths in rounds:
        minutes = rng.choices([m for m, _ in lengths], [w for _, w in lengths])[0]
        carers = 2 if two and starts in (MORNING[0], BED[0]) else 1
        visits.append((rng.choice(starts), max(minutes, 30) if carers == 2 else minutes, carers))
    return tuple(Slot(d, s, m, c) for d in days for s, m, c in visits)


def _pounds(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


def commission(
    database: Database,
    clerk: Actor,
    book_id: int,
    news: Sequence[NewPackage],
    people: CareParties,
    tick: Callable[[int], None],
) -> Commissioned:
    """The packages through the service, a transaction per batch."""
    ids: list[int] = []
    for start in range(0, len(news), PACKAGE_BATCH):
        with database.write() as conn:
            ids += care.create_packages(conn, clerk, book_id, news[start : start + PACKAGE_BATCH])
        tick(len(ids))
    refs = dict(people.clients) | dict(people.providers)
    return Commissioned(
        ids,
        [refs[n.client_party_id] for n in news],
        [refs[n.provider_party_id] for n in news],
        [n.ref for n in news],
    )


# ---------------------------------------------------------------- the monitoring file


def actual_csv(
    database: Database,
    book_id: int,
    packages: Commissioned,
    first: date,
    last: date,
    seed_value: int,
) -> bytes:
    """The month's ``actual.csv``: the carers' records of the planned visits, with noise."""
    v = planned_visits.c
    start_s = (first - EPOCH).days * DAY_SECONDS
    end_s = (last - EPOCH).days * DAY_SECONDS + DAY_SECONDS
    with database.read() as conn:
        rows = conn.execute(
            select(v.ref, v.package_id, v.start_s, v.end_s, v.carers).where(
                and_(v.book_id == book_id, v.start_s >= start_s, v.start_s < end_s)
            )
        ).all()
    visits = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "ref": pl.String,
            "package_id": pl.Int64,
            "start_s": pl.Int64,
            "end_s": pl.Int64,
            "carers": pl.Int64,
        },
    ).join(packages.frame(), on="package_id")
    records = monitoring_records(visits, seed_value, f"{first:%Y%m}")
    return records.write_csv().encode("utf-8")


def _noise(key: str, seed_value: int, salt: int, modulo: int) -> pl.Expr:
    """A repeatable whole number in [0, modulo) from a text column and a salt."""
    return (pl.col(key).hash((seed_value % 2**32) * 256 + salt) % modulo).cast(pl.Int64)


def monitoring_records(visits: pl.DataFrame, seed_value: int, prefix: str) -> pl.DataFrame:
    """Records of the visits' carer places, duplicates and night call-outs, in the order of
    check-in, as the exchange format's columns (``docs/formats/care.md``).

    ``visits``: ref, start_s, end_s, carers, client_ref, provider_ref, package_ref; record
    ids are ``ECM<prefix>-<n>``.
    """
    places = visits.with_columns(place=pl.int_ranges(0, pl.col("carers"))).explode("place")
    places = places.with_columns(key=pl.format("{}#{}", "ref", "place"))

    def noise(salt: int, modulo: int) -> pl.Expr:
        return _noise("key", seed_value, salt, modulo)

    roll = noise(1, 10_000)
    planned_s = pl.col("end_s") - pl.col("start_s")
    kind = (
        pl.when(roll < MISSED)
        .then(pl.lit("missed"))
        .when(roll < MISSED + BROKEN)
        .then(pl.lit("broken"))
        .when(roll < MISSED + BROKEN + FORGOT)
        .then(pl.lit("forgot"))
        .when(roll < MISSED + BROKEN + FORGOT + LATE)
        .then(pl.lit("late"))
        .when(roll < MISSED + BROKEN + FORGOT + LATE + SHORT)
        .then(pl.lit("short"))
        .when(roll < MISSED + BROKEN + FORGOT + LATE + SHORT + LONG)
        .then(pl.lit("long"))
        .otherwise(pl.lit("ok"))
    )
    second_missing = (pl.col("place") == 1) & (noise(2, 100) < SECOND_CARER_MISSING_PERCENT)
    places = places.with_columns(
        kind=pl.when(second_missing).then(pl.lit("missed")).otherwise(kind)
    )
    offset_s = pl.when(pl.col("kind") == "late").then((30 + noise(3, 41)) * 60).otherwise(
        (noise(3, 16) + noise(4, 16) - 15) * 60
    ) + noise(5, 60)
    delivered_s = (
        pl.when(pl.col("kind") == "short")
        .then(planned_s * (35 + noise(6, 51)) // 100)
        .when(pl.col("kind") == "long")
        .then(planned_s + (16 + noise(6, 30)) * 60)
        .when(pl.col("kind") == "broken")
        .then(-(5 + noise(6, 50)) * 60)
        .when(pl.col("kind") == "forgot")
        .then((780 + noise(6, 180)) * 60)
        .otherwise(planned_s + (noise(6, 10) - 5) * 60)
    ) + noise(7, 60)
    # Each client has three regular carers of the agency; two carers of a visit differ.
    regular = (
        _noise("package_ref", seed_value, 8, CARERS_PER_AGENCY)
        + _noise("ref", seed_value, 9, 3) * 7
        + pl.col("place") * 13
    ) % CARERS_PER_AGENCY
    present = places.filter(pl.col("kind") != "missed").with_columns(
        check_in_s=pl.col("start_s") + offset_s, carer=regular, method=noise(10, 100)
    )
    present = present.with_columns(check_out_s=pl.col("check_in_s") + delivered_s)
    twice = present.filter(noise(11, 1_000) < DUPLICATE_PER_MILLE).with_columns(
        check_in_s=pl.col("check_in_s") + (1 + noise(12, 4)) * 60 + noise(13, 60),
        check_out_s=pl.col("check_out_s") + noise(14, 120),
        method=pl.when(pl.col("method") < METHODS[0][0])
        .then(pl.lit(70, dtype=pl.Int64))
        .otherwise(pl.lit(0, dtype=pl.Int64)),  # the other one
        key=pl.col("key") + "/again",
    )
    night = places.filter((pl.col("place") == 0) & (noise(15, 1_000) < UNPLANNED_PER_MILLE))
    night = night.with_columns(
        check_in_s=pl.col("start_s")
        - pl.col("start_s") % DAY_SECONDS
        + (60 + noise(16, 240)) * 60
        + noise(17, 60),
        carer=noise(18, CARERS_PER_AGENCY),
        method=pl.lit(70, dtype=pl.Int64),
        key=pl.col("key") + "/night",
    )
    night = night.with_columns(
        check_out_s=pl.col("check_in_s") + (20 + noise(19, 41)) * 60 + noise(20, 60)
    )
    columns = ("key", "client_ref", "provider_ref", "carer", "method", "check_in_s", "check_out_s")
    records = pl.concat([f.select(columns) for f in (present, twice, night)]).sort(
        "check_in_s", "key"
    )
    return _as_exchange(records, seed_value, prefix)


def _as_exchange(records: pl.DataFrame, seed_value: int, prefix: str) -> pl.DataFrame:
    """The exchange format's columns; app records carry the phone's position."""
    method = (
        pl.when(pl.col("method") < METHODS[0][0])
        .then(pl.lit(METHODS[0][1]))
        .when(pl.col("method") < METHODS[1][0])
        .then(pl.lit(METHODS[1][1]))
        .otherwise(pl.lit(METHODS[2][1]))
    )
    lat_e5 = (
        5_250_000 + _noise("client_ref", seed_value, 21, 40_000) + _noise("key", seed_value, 22, 30)
    )
    lon_e5 = (
        120_000 + _noise("client_ref", seed_value, 23, 60_000) + _noise("key", seed_value, 24, 30)
    )
    is_app = pl.col("method") < METHODS[0][0]
    return records.with_row_index("n", offset=1).select(
        record_id=pl.format(f"ECM{prefix}-{{}}", pl.col("n").cast(pl.String).str.zfill(7)),
        client_id="client_ref",
        provider_id="provider_ref",
        carer_id=pl.format(
            "{}-K{}", "provider_ref", (pl.col("carer") + 1).cast(pl.String).str.zfill(3)
        ),
        service_code=pl.lit(SERVICE),
        method=method,
        check_in=_local_text(pl.col("check_in_s")),
        check_out=_local_text(pl.col("check_out_s")),
        latitude=pl.when(is_app).then(_degrees(lat_e5)),
        longitude=pl.when(is_app).then(pl.lit("-") + _degrees(lon_e5)),
    )


def _degrees(e5: pl.Expr) -> pl.Expr:
    return pl.format("{}.{}", e5 // 100_000, (e5 % 100_000).cast(pl.String).str.zfill(5))


def _local_text(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")


# What the demo officer decides on each kind of exception of the runs it finishes: a short
# visit is paid as delivered, an over-run as planned, everything else (missed, unplanned,
# impossible times, a record in hospital) is not paid. None of these needs a second person.
DEMO_DECISIONS = {"short_exception": "accept_actual", "over_exception": "accept_planned"}


def finish_runs(database: Database, book_id: int, code: str, count: int) -> set[int]:
    """The month's last ``count`` provider runs decided by the demo clerk and posted as
    self-bills by the demo manager (someone other than the decider, as the rules want);
    returns the providers (party ids) paid. The other runs stay for a user to decide."""
    clerk, manager = staff(book_id, code)
    r, o = care_runs.c, visit_outcomes.c
    with database.read() as conn:
        chosen = conn.execute(
            select(r.id, r.provider_party_id)
            .where(r.book_id == book_id)
            .order_by(r.id.desc())
            .limit(count)
        ).all()
    posted = set()
    for run_id, provider in chosen:
        with database.write() as conn:
            open_ones = conn.execute(
                select(o.id, o.version, o.rule).where(
                    and_(o.run_id == run_id, o.exception.is_(True), o.decision.is_(None))
                )
            ).all()
            by_decision: dict[str, dict[int, int]] = {}
            for row in open_ones:
                choice = DEMO_DECISIONS.get(str(row.rule), "reject")
                by_decision.setdefault(choice, {})[int(row.id)] = int(row.version)
            for choice, versions in by_decision.items():
                for start in range(0, len(versions), decisions.MAX_BULK):
                    part = dict(list(versions.items())[start : start + decisions.MAX_BULK])
                    decisions.decide_many(
                        conn, clerk, book_id, run_id, part, choice, "demo: month-end review"
                    )
        with database.write() as conn:
            payables.post_payable(conn, manager, book_id, run_id)
        posted.add(int(provider))
    return posted
