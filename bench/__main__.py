"""``python -m bench ledger [--postings N] [--parties N] [--db sqlite|postgresql|both] ...``"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import ledger


def positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = top.add_subparsers(dest="benchmark", required=True)
    led = commands.add_parser(
        "ledger", help="post postings through post_entries, then balances and a trial balance")
    led.add_argument("--postings", type=positive, default=ledger.DEFAULT_POSTINGS,
                     help="postings to post (default %(default)s)")
    led.add_argument("--parties", type=positive, default=ledger.DEFAULT_PARTIES,
                     help="parties in the control account's sub-ledger (default %(default)s)")
    led.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both",
                     help="which store (default %(default)s)")
    led.add_argument("--seed", type=int, default=ledger.DEFAULT_SEED,
                     help="random seed of the entries (default %(default)s)")
    led.add_argument("--batch", type=positive, default=ledger.DEFAULT_BATCH,
                     help="entries per post_entries call and transaction (default %(default)s)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
