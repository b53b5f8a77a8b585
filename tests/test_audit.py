"""The audit chain notices an edited, deleted or reordered event (tampered with raw SQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from remit import audit
from remit.access.model import Actor
from remit.db import is_postgres


@pytest.fixture
def chain(db):
    actor = Actor.system("auditor-test")
    with db.write() as conn:
        for n in range(1, 7):
            audit.record(conn, actor, "thing.change", "thing", n, {"v": n - 1}, {"v": n})
    return db


def drop_guards(conn):
    """What an attacker with the database owner's rights would do first."""
    if is_postgres(conn):
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def faults(db):
    with db.read() as conn:
        report = audit.verify(conn)
    return report, [(f.seq, f.kind) for f in report.faults]


def test_untouched_chain_verifies(chain):
    report, found = faults(chain)
    assert report.ok and report.events == 6 and found == []


def test_guards_refuse_editing_events(chain):
    with pytest.raises(Exception, match="append-only"), chain.write() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 3"))


def test_edited_event_is_reported(chain):
    with chain.write() as conn:
        drop_guards(conn)
        conn.execute(text('UPDATE audit_events SET "after" = :v WHERE id = 3'), {"v": '{"v":99}'})
    report, found = faults(chain)
    assert not report.ok and found == [(3, "edited")]


def test_deleted_event_is_reported(chain):
    with chain.write() as conn:
        drop_guards(conn)
        conn.execute(text("DELETE FROM audit_events WHERE id = 4"))
    _, found = faults(chain)
    assert (5, "deleted") in found


def test_deleted_last_event_is_reported(chain):
    with chain.write() as conn:
        drop_guards(conn)
        conn.execute(text("DELETE FROM audit_events WHERE id = 6"))
    _, found = faults(chain)
    assert found == [(6, "deleted")]


def test_reordered_events_are_reported(chain):
    # Swap the contents of events 2 and 3, keeping their sequence numbers.
    cols = [
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    ]
    with chain.write() as conn:
        drop_guards(conn)
        found = conn.execute(text("SELECT * FROM audit_events WHERE id IN (2, 3)"))
        rows = {r.id: r for r in found}
        for target, source in ((2, 3), (3, 2)):
            sets = ", ".join(f'"{c}" = :{c}' for c in cols)
            conn.execute(
                text(f"UPDATE audit_events SET {sets} WHERE id = :id"),
                {**{c: getattr(rows[source], c) for c in cols}, "id": target},
            )
    _, found = faults(chain)
    kinds = {kind for _, kind in found}
    assert "reordered" in kinds
    assert {seq for seq, _ in found} <= {2, 3, 4}
