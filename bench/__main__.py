"""``python -m bench ledger [--postings N] [--parties N] [--db sqlite|postgresql|both] ...``
or ``python -m bench web [--scale large] [--clients 8] [--seconds N | --requests N]
[--db sqlite|postgresql]``, or ``python -m bench care [--planned N] [--repeat K]
[--no-reference]``, or ``python -m bench care-book [--db sqlite|postgresql|both]
[--scale large]``, or ``python -m bench worklist [--db sqlite|postgresql] [--scale large]
[--seconds N]``, or ``python -m bench formats [--entries N]``, or ``python -m bench
payments-runs [--db sqlite|postgresql|both] [--format nacha|pain.001|both] [--payments N]``,
or ``python -m bench payments-selection [--items N]``, or ``python -m bench childcare
[--child-months N]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bench import (
    care,
    care_book,
    childcare,
    childcare_book,
    formats_bacs18,
    formats_nacha,
    formats_offline,
    formats_pain,
    ledger,
    payments_runs,
    payments_selection,
    web,
    worklist,
)
from remit import demo


def positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = top.add_subparsers(dest="benchmark", required=True)
    led = commands.add_parser(
        "ledger", help="post postings through post_entries, then balances and a trial balance"
    )
    led.add_argument(
        "--postings",
        type=positive,
        default=ledger.DEFAULT_POSTINGS,
        help="postings to post (default %(default)s)",
    )
    led.add_argument(
        "--parties",
        type=positive,
        default=ledger.DEFAULT_PARTIES,
        help="parties in the control account's sub-ledger (default %(default)s)",
    )
    led.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="which store (default %(default)s)",
    )
    led.add_argument(
        "--seed",
        type=int,
        default=ledger.DEFAULT_SEED,
        help="random seed of the entries (default %(default)s)",
    )
    led.add_argument(
        "--batch",
        type=positive,
        default=ledger.DEFAULT_BATCH,
        help="entries per post_entries call and transaction (default %(default)s)",
    )
    add_web(commands)
    visits = commands.add_parser(
        "care", help="the care engine, the offline command and a per-row baseline"
    )
    visits.add_argument(
        "--planned",
        type=positive,
        default=care.DEFAULT_PLANNED,
        help="planned visits (default %(default)s)",
    )
    visits.add_argument(
        "--repeat",
        type=positive,
        default=3,
        help="engine runs; the median counts (default %(default)s)",
    )
    visits.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the per-row Python baseline (slow at a million)",
    )
    commands.add_parser(
        "care-book",
        add_help=False,
        help="a month of the large demo's care imported, reconciled and stored "
        "(python -m bench care-book --help)",
    )
    commands.add_parser(
        "worklist",
        add_help=False,
        help="50-row pages of a 2,000-exception care run under 8 clients "
        "(python -m bench worklist --help)",
    )
    return top


def add_web(commands: Any) -> None:
    page = commands.add_parser(
        "web", help="list and queue pages of a demo book, under concurrent signed-in clients"
    )
    page.add_argument(
        "--scale",
        choices=tuple(demo.SCALES),
        default=web.DEFAULT_SCALE,
        help="demo scale (default %(default)s)",
    )
    page.add_argument(
        "--seed", type=int, default=web.DEFAULT_SEED, help="demo seed (default %(default)s)"
    )
    page.add_argument(
        "--clients",
        type=positive,
        default=web.DEFAULT_CLIENTS,
        help="concurrent signed-in clients (default %(default)s)",
    )
    budget = page.add_mutually_exclusive_group()
    budget.add_argument(
        "--seconds", type=positive, help=f"measure for this long (default {web.DEFAULT_SECONDS})"
    )
    budget.add_argument("--requests", type=positive, help="measure this many requests")
    page.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="which store (default %(default)s)",
    )


def run_web(args: argparse.Namespace) -> int:
    seconds = None if args.requests else (args.seconds or web.DEFAULT_SECONDS)
    figures = web.run(
        web.Options(args.scale, args.seed, args.clients, seconds, args.requests, args.db)
    )
    path = web.write_json(figures)
    print(web.report(figures))
    print(f"  figures written to {path}\n")
    return 1 if figures.failures else 0  # a target missed is a figure; a failed answer is not


def run_formats(argv: Sequence[str]) -> int:
    """``python -m bench formats [--entries N]``: NACHA, BACS and pain.001 written, checked
    and parsed, and payables.csv read, each printing its medians beside its target."""
    top = argparse.ArgumentParser(prog="python -m bench formats")
    top.add_argument("--entries", type=positive, default=100_000)
    entries = top.parse_args(list(argv)).entries
    for module in (formats_nacha, formats_bacs18, formats_pain, formats_offline):
        module.run(entries)
    return 0


def run_selection(argv: Sequence[str]) -> int:
    """``python -m bench payments-selection [--items N]``: the run's selection engine beside
    the naive loop."""
    top = argparse.ArgumentParser(prog="python -m bench payments-selection")
    top.add_argument("--items", type=positive, default=100_000)
    payments_selection.run(top.parse_args(list(argv)).items)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own_options = {  # each parses its own options: see its module
        "care-book": care_book.main,
        "worklist": worklist.main,
        "formats": run_formats,  # the bank files offline: each module prints its figures
        "payments-runs": payments_runs.main,  # prepare -> approve -> release, measured
        "payments-selection": run_selection,
        "childcare": childcare.main,  # a month of child care payments: engine and reference
        "childcare-book": childcare_book.main,  # the month imported, calculated, posted
    }
    if argv[:1] and argv[0] in own_options:
        return own_options[argv[0]](argv[1:])
    args = parser().parse_args(argv)
    if args.benchmark == "web":
        return run_web(args)
    if args.benchmark == "care":
        found = care.run(args.planned, args.repeat, not args.no_reference)
        print(care.report(found))
        print(f"  figures written to {care.write_json(found)}\n")
        return 0
    if args.postings < ledger.MIN_POSTINGS:
        print(f"--postings must be at least {ledger.MIN_POSTINGS}", file=sys.stderr)
        return 2
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    size = ledger.Size(args.postings, args.parties, args.seed, args.batch)
    results = []
    for kind in kinds:
        figures = ledger.run(kind, size)
        path = ledger.write_json(figures)
        print(ledger.report(figures))
        print(f"  figures written to {path}\n")
        results.append(figures)
    if len(results) > 1:
        print(ledger.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
