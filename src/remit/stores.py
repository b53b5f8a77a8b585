"""Imports every package's ``store`` so that ``remit.db.metadata`` holds all tables."""

from __future__ import annotations

from sqlalchemy import MetaData

from remit import audit as _audit
from remit import db
from remit.access import store as _access
from remit.care import store as _care
from remit.cases import store as _cases
from remit.childcare import store as _childcare
from remit.documents import store as _documents
from remit.events import store as _events
from remit.jobs import store as _jobs
from remit.ledger import store as _ledger
from remit.parties import store as _parties
from remit.payments import store as _payments
from remit.web import store as _web

_ALL = (
    _audit,
    _access,
    _care,
    _cases,
    _childcare,
    _documents,
    _events,
    _jobs,
    _ledger,
    _parties,
    _payments,
    _web,
)


def load_all_tables() -> MetaData:
    """The one MetaData, with every package's tables on it."""
    return db.metadata
