"""Case types, their states and transitions, and the registry packages add theirs to.

A case type is data: its states, which of them are closed, the transitions allowed between
them (each with the permission it needs and whether it needs a reason), its team, its SLA
in business days and how long overdue it may be before it is escalated to a manager.

>>> helpdesk = CASE_TYPES["helpdesk"]
>>> helpdesk.transition("start", "open").target
'in_progress'
>>> [t.name for t in helpdesk.allowed_from("open")]
['start', 'wait', 'resolve', 'cancel']
>>> helpdesk.transition("reopen", "open") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from types import MappingProxyType

from remit.access.model import Permission


class Priority(IntEnum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4

    @property
    def label(self) -> str:
        return self.name.title()


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed move: from any of ``sources`` to ``target``, by an action ``name``."""

    name: str
    label: str
    sources: tuple[str, ...]
    target: str
    needs_reason: bool = False
    permission: Permission = Permission.CASE_WORK


@dataclass(frozen=True, slots=True)
class CaseType:
    code: str
    label: str
    package: str  # the package that owns the type (where its work is done)
    states: tuple[str, ...]
    initial: str
    closed: tuple[str, ...]
    transitions: tuple[Transition, ...]
    team: str
    sla_business_days: int
    escalate_after_business_days: int = 0  # overdue by more than this: to a manager
    portal_raisable: bool = False  # a provider or client user may open one
    # Shared with the party in its portal (queries, arbitration, what it must act on);
    # other types are the office's own work about the party and stay internal.
    portal_shared: bool = False

    def __post_init__(self) -> None:
        states = set(self.states)
        named = {self.initial, *self.closed}
        for t in self.transitions:
            named |= {*t.sources, t.target}
        if not named <= states:
            raise ValueError(
                f"case type {self.code!r} names unknown states {sorted(named - states)}"
            )

    def transition(self, name: str, state: str) -> Transition | None:
        """The transition ``name`` if it is allowed from ``state``."""
        for t in self.transitions:
            if t.name == name and state in t.sources:
                return t
        return None

    def allowed_from(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.sources]

    def is_closed(self, state: str) -> bool:
        return state in self.closed


_registry: dict[str, CaseType] = {}
CASE_TYPES: Mapping[str, CaseType] = MappingProxyType(_registry)


def register_case_type(case_type: CaseType) -> CaseType:
    """Add a case type; a package calls this once, at import. Codes are unique."""
    existing = _registry.get(case_type.code)
    if existing is not None and existing != case_type:
        raise ValueError(f"case type {case_type.code!r} is already registered differently")
    _registry[case_type.code] = case_type
    return case_type


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case to open."""

    case_type: str
    title: str
    description: str = ""
    priority: Priority = Priority.NORMAL
    party_id: int | None = None
    owner: str | None = None
    team: str | None = None  # default: the type's team
    links: tuple[tuple[str, str, str], ...] = ()  # (object_type, object_id, label)


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case as listed in a queue."""

    id: int
    case_type: str
    state: str
    is_open: bool
    title: str
    priority: Priority
    owner: str | None
    team: str
    party_id: int | None
    party_name: str | None
    opened_on: date
    due_date: date
    escalation_level: int
    version: int

    def is_overdue(self, today: date) -> bool:
        return self.is_open and self.due_date < today


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One line of work in a queue section: what it is, where to act on it, and a detail."""

    text: str
    href: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class QueueSection:
    """Work another package puts in the queue (care runs needing action, approvals...)."""

    title: str
    items: tuple[QueueItem, ...]
    note: str = ""


# Imported for its side effect: the built-in case types register themselves.
from remit.cases import catalog as _catalog  # noqa: E402

_CATALOG = _catalog
