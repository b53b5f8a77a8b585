"""The fast readers (Polars) give exactly the frames the careful readers' values make, or
None whenever the careful reader has a problem to name; the frame writers give exactly the
careful writers' payments.csv and summary.json. Random months written as files, and the
same files spoiled one value at a time."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remit.childcare import exchange, fastread
from remit.childcare.calculate import Inputs
from remit.childcare.engine import (
    frames_of,
    payments_csv_frame,
    payments_frame,
    rows_of,
    summary_frame,
)
from remit.errors import ValidationFailed
from remit.testkit.childcare import files_of, random_month, table

READERS = {
    "certs": (exchange.read_certificates, fastread.certificates, exchange.CERTIFICATES),
    "attendance": (exchange.read_attendance, fastread.attendance, exchange.ATTENDANCE),
    "ceilings": (exchange.read_ceilings, fastread.ceilings, exchange.CEILINGS),
    "providers": (exchange.read_providers, fastread.providers, exchange.PROVIDERS),
    "families": (exchange.read_families, fastread.families, exchange.FAMILIES),
}


def _careful_frames(files: dict[str, bytes], inputs: Inputs) -> dict[str, pl.DataFrame]:
    read = {k: READERS[k][0](v) for k, v in files.items()}
    return frames_of(
        Inputs(inputs.month, read["certs"], read["attendance"], read["ceilings"],
               read.get("providers"), read.get("families"), inputs.policy)
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fast_frames_are_the_careful_readers_and_the_writers_agree(seed: int) -> None:
    inputs = random_month(seed)
    # Minutes past 18 hours cannot be written from 06:00: keep the day within the clock.
    inputs = Inputs(
        inputs.month, inputs.certificates,
        [a for a in inputs.attendance if a.minutes <= 17 * 60], inputs.ceilings,
        inputs.providers, inputs.families, inputs.policy,
    )  # fmt: skip
    files = files_of(inputs)
    careful = _careful_frames(files, inputs)
    for key, content in files.items():
        fast = READERS[key][1](content)
        assert fast is not None, key
        assert fast.equals(careful[key]), key
    frame = payments_frame(careful, inputs.month, inputs.policy)
    rows = rows_of(frame, inputs.month)
    assert payments_csv_frame(frame, inputs.month) == exchange.payments_csv(rows)
    assert summary_frame(frame) == exchange.summary(rows)


SPOILS = [
    ("certs", "schedule", "mon=8;mon=2"),
    ("certs", "schedule", "mon=8x=3"),
    ("certs", "schedule", "mon=25"),
    ("certs", "schedule", ""),
    ("certs", "end_date", "2020-01-01"),
    ("certs", "provider_rate", "12.345"),
    ("certs", "evening_weekend_share", "1.5"),
    ("certs", "child_birth_date", "2026-02-30"),
    ("certs", "certificate_id", "x" * 65),
    ("attendance", "time_out", "05:00"),
    ("attendance", "time_in", "7:00"),
    ("attendance", "absence", "sick"),
    ("attendance", "received", "tomorrow"),
    ("ceilings", "facility", "home"),
    ("ceilings", "amount", "-5.00"),
    ("providers", "file_complete", "maybe"),
    ("families", "family_size", "0"),
    ("families", "fee_collected_by", "nobody"),
]


@pytest.mark.parametrize(("key", "column", "value"), SPOILS)
def test_a_spoiled_value_sends_the_file_to_the_careful_reader(key, column, value) -> None:
    files = files_of(random_month(3))
    reader, fast, _columns = READERS[key]
    rows = list(csv.reader(io.StringIO(files[key].decode())))
    at = [c.lower() for c in rows[0]].index(column)
    rows[1][at] = value
    spoiled = table(tuple(rows[0]), rows[1:])
    with pytest.raises(ValidationFailed):
        reader(spoiled)
    assert fast(spoiled) is None
