"""Helpers for the test suite and the benchmarks: a throwaway PostgreSQL server, actors."""

from __future__ import annotations

from remit.access.model import Actor, Role


def person(username: str, book_id: int, *roles: Role) -> Actor:
    """An actor with the given roles in one book (service tests need no user row)."""
    return Actor(username=username, user_id=None, roles={book_id: frozenset(roles)})
