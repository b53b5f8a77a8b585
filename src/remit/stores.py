"""Imports every package's ``store`` so that ``remit.db.metadata`` holds all tables."""

from __future__ import annotations

from sqlalchemy import MetaData

from remit import db
from remit.access import store as _access
from remit.ledger import store as _ledger
from remit.parties import store as _parties

_ALL = (_access, _ledger, _parties)


def load_all_tables() -> MetaData:
    """The one MetaData, with every package's tables on it."""
    return db.metadata
