"""Roles, permissions and the actor who does a thing.

The permission matrix is data in one place: ``PERMISSIONS`` maps each action to the roles
that may do it. Services call ``require(actor, book_id, permission)`` before they change
anything; interfaces (web, CLI, API) never decide on their own.

>>> clerk = Actor(user_id=7, username="ana", roles={1: frozenset({Role.CLERK})})
>>> clerk.can(1, Permission.LEDGER_POST)
True
>>> clerk.can(1, Permission.PERIOD_REOPEN)
False
>>> clerk.can(2, Permission.LEDGER_READ)
False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from remit.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    APPROVER = "approver"
    CLERK = "clerk"
    AUDITOR = "auditor"
    PROVIDER = "provider"
    CLIENT = "client"


STAFF_ROLES = (Role.ADMIN, Role.MANAGER, Role.APPROVER, Role.CLERK, Role.AUDITOR)


class Kind(StrEnum):
    """Whether a permission only shows things or changes them."""

    READ = "read"
    WRITE = "write"


_READ, _WRITE = Kind.READ, Kind.WRITE


class Permission(StrEnum):
    """What an actor may do; each declares its ``kind`` beside its name.

    >>> Permission.LEDGER_READ.kind, Permission.CARE_DECIDE.kind
    (<Kind.READ: 'read'>, <Kind.WRITE: 'write'>)
    >>> Permission("care.decide") is Permission.CARE_DECIDE
    True
    """

    _value_: str
    kind: Kind

    def __new__(cls, value: str, kind: Kind) -> Permission:
        member = str.__new__(cls, value)
        member._value_ = value
        member.kind = kind
        return member

    LEDGER_READ = "ledger.read", _READ
    LEDGER_POST = "ledger.post", _WRITE
    LEDGER_REVERSE = "ledger.reverse", _WRITE
    ACCOUNTS_MANAGE = "accounts.manage", _WRITE
    PERIOD_CLOSE = "period.close", _WRITE
    PERIOD_REOPEN = "period.reopen", _WRITE
    PARTY_READ = "party.read", _READ
    PARTY_EDIT = "party.edit", _WRITE
    BANK_DETAILS_VIEW = "party.bank.view", _READ
    BANK_CHANGE_REQUEST = "party.bank.request", _WRITE
    BANK_CHANGE_APPROVE = "party.bank.approve", _WRITE
    AUDIT_READ = "audit.read", _READ
    USERS_MANAGE = "users.manage", _WRITE
    BOOK_ADMIN = "book.admin", _WRITE
    CASE_READ = "case.read", _READ
    CASE_WORK = "case.work", _WRITE
    CASE_ASSIGN = "case.assign", _WRITE
    CASE_ESCALATE = "case.escalate", _WRITE
    CASE_TAKE = "case.take", _WRITE  # take an unowned case as one's own
    DOCUMENT_READ = "document.read", _READ
    DOCUMENT_UPLOAD = "document.upload", _WRITE
    CORRESPONDENCE_READ = "correspondence.read", _READ
    CORRESPONDENCE_SEND = "correspondence.send", _WRITE
    JOBS_READ = "jobs.read", _READ
    JOBS_RUN = "jobs.run", _WRITE
    API_TOKENS_MANAGE = "api_tokens.manage", _WRITE
    WEBHOOKS_MANAGE = "webhooks.manage", _WRITE
    CARE_READ = "care.read", _READ  # packages, visits, runs and their outcomes
    CARE_IMPORT = "care.import", _WRITE  # planned visits and actual records
    CARE_RUN = "care.run", _WRITE  # reconcile a period
    CARE_DECIDE = "care.decide", _WRITE  # arbitration decisions on exceptions
    CARE_POLICY = "care.policy", _WRITE  # tolerance policies
    CARE_APPROVE = "care.approve", _WRITE  # the second person's approval of a decision
    CHILDCARE_READ = "childcare.read", _READ  # families, certificates, attendance
    CHILDCARE_EDIT = "childcare.edit", _WRITE  # import, change a certificate, notices
    PAYMENT_READ = "payment.read", _READ  # payment runs, payments, their files
    PAYMENT_PREPARE = "payment.prepare", _WRITE  # prepare or cancel a run; record its outcome
    PAYMENT_APPROVE = "payment.approve", _WRITE  # approve a run (never one's own)
    PAYMENT_RELEASE = "payment.release", _WRITE  # release an approved run to the bank
    # Portals: a provider or client user acts only on the one party it is bound to.
    PORTAL_PROVIDER = "portal.provider", _WRITE
    PORTAL_CLIENT = "portal.client", _WRITE


_R = Role
PERMISSIONS: Mapping[Permission, frozenset[Role]] = MappingProxyType(
    {
        Permission.LEDGER_READ: frozenset(STAFF_ROLES),
        Permission.LEDGER_POST: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.LEDGER_REVERSE: frozenset({_R.MANAGER}),
        Permission.ACCOUNTS_MANAGE: frozenset({_R.ADMIN, _R.MANAGER}),
        Permission.PERIOD_CLOSE: frozenset({_R.MANAGER}),
        Permission.PERIOD_REOPEN: frozenset({_R.MANAGER}),
        Permission.PARTY_READ: frozenset(STAFF_ROLES),
        Permission.PARTY_EDIT: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        # Full bank details are shown only to those who approve changes to them.
        Permission.BANK_DETAILS_VIEW: frozenset({_R.APPROVER}),
        Permission.BANK_CHANGE_REQUEST: frozenset({_R.MANAGER, _R.CLERK}),
        Permission.BANK_CHANGE_APPROVE: frozenset({_R.MANAGER, _R.APPROVER}),
        Permission.AUDIT_READ: frozenset({_R.ADMIN, _R.MANAGER, _R.AUDITOR}),
        Permission.USERS_MANAGE: frozenset({_R.ADMIN}),
        Permission.BOOK_ADMIN: frozenset({_R.ADMIN}),
        Permission.CASE_READ: frozenset(STAFF_ROLES),
        Permission.CASE_WORK: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.CASE_ASSIGN: frozenset({_R.ADMIN, _R.MANAGER}),
        Permission.CASE_ESCALATE: frozenset({_R.MANAGER}),
        Permission.CASE_TAKE: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.DOCUMENT_READ: frozenset(STAFF_ROLES),
        Permission.DOCUMENT_UPLOAD: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.CORRESPONDENCE_READ: frozenset(STAFF_ROLES),
        Permission.CORRESPONDENCE_SEND: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.JOBS_READ: frozenset(STAFF_ROLES),
        Permission.JOBS_RUN: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.API_TOKENS_MANAGE: frozenset({_R.ADMIN}),
        Permission.WEBHOOKS_MANAGE: frozenset({_R.ADMIN}),
        Permission.CARE_READ: frozenset(STAFF_ROLES),
        Permission.CARE_IMPORT: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.CARE_RUN: frozenset({_R.MANAGER, _R.CLERK}),
        Permission.CARE_DECIDE: frozenset({_R.MANAGER, _R.CLERK}),
        Permission.CARE_POLICY: frozenset({_R.MANAGER}),
        Permission.CARE_APPROVE: frozenset({_R.MANAGER, _R.APPROVER}),
        Permission.CHILDCARE_READ: frozenset(STAFF_ROLES),
        Permission.CHILDCARE_EDIT: frozenset({_R.ADMIN, _R.MANAGER, _R.CLERK}),
        Permission.PAYMENT_READ: frozenset(STAFF_ROLES),
        Permission.PAYMENT_PREPARE: frozenset({_R.MANAGER, _R.CLERK}),
        Permission.PAYMENT_APPROVE: frozenset({_R.MANAGER, _R.APPROVER}),
        Permission.PAYMENT_RELEASE: frozenset({_R.MANAGER, _R.APPROVER}),
        Permission.PORTAL_PROVIDER: frozenset({_R.PROVIDER}),
        Permission.PORTAL_CLIENT: frozenset({_R.CLIENT}),
    }
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user with roles per book, or the system itself."""

    username: str
    user_id: int | None = None
    roles: Mapping[int, frozenset[Role]] = field(default_factory=dict)
    is_system: bool = False
    # A portal user's party in each book where it holds the provider or client role.
    parties: Mapping[int, int] = field(default_factory=dict)
    # An API token narrows what its user may do to the permissions of its scopes.
    scopes: frozenset[Permission] | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The installation acting on its own (set-up, demo seeding, migrations).

        It may do everything but the decisions that need a named person (approving a
        bank-detail change, reopening a period): those need a user.
        """
        return cls(username=name, is_system=True)

    def roles_in(self, book_id: int) -> frozenset[Role]:
        return self.roles.get(book_id, frozenset())

    def is_staff_in(self, book_id: int) -> bool:
        """True for the system and for users with a staff role in the book."""
        return self.is_system or bool(self.roles_in(book_id) & frozenset(STAFF_ROLES))

    def party_in(self, book_id: int) -> int | None:
        """The party a portal user acts for in the book, or None."""
        return self.parties.get(book_id)

    def can(self, book_id: int, permission: Permission) -> bool:
        if self.scopes is not None and permission not in self.scopes:
            return False
        if self.is_system:
            return permission not in NAMED_PERSON_ONLY
        return bool(self.roles_in(book_id) & PERMISSIONS[permission])


# Decisions that must be taken by a named person with the role, never by the system.
NAMED_PERSON_ONLY = frozenset(
    {
        Permission.PERIOD_REOPEN,
        Permission.BANK_CHANGE_APPROVE,
        Permission.BANK_DETAILS_VIEW,
        Permission.PORTAL_PROVIDER,
        Permission.PORTAL_CLIENT,
    }
)


def require(actor: Actor, book_id: int, permission: Permission) -> None:
    """Raise ``Forbidden`` unless the actor holds a role that grants the permission."""
    if not actor.can(book_id, permission):
        allowed = ", ".join(sorted(PERMISSIONS[permission]))
        raise Forbidden(
            f"{actor.username} may not {permission.value} in book {book_id} (needs {allowed})"
        )
