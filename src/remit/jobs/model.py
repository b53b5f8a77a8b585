"""Jobs as plain values: their states, the kinds of job and the registry of kinds.

A job moves through a small state machine (``TRANSITIONS``): ``queued`` -> ``running`` ->
``succeeded`` or ``failed``; a queued job can be ``cancelled``; a running job whose worker
stopped answering goes back to ``queued`` (or to ``failed`` after its last attempt).

>>> allowed(JobStatus.QUEUED, JobStatus.RUNNING), allowed(JobStatus.SUCCEEDED, JobStatus.QUEUED)
(True, False)

A kind of job is data: a code, a label, the permission needed to start it, a validator of
its parameters (every problem, never just the first) and the handler that does the work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from remit.access.model import Actor, Permission
from remit.errors import Problem, RemitError, ValidationFailed

if TYPE_CHECKING:  # the model does no I/O; these only name the context's tools
    from remit.db import Database
    from remit.secrets import Vault


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TRANSITIONS: Mapping[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.QUEUED: (JobStatus.RUNNING, JobStatus.CANCELLED),
    # Back to queued (or failed) only by the janitor, when the worker stopped answering.
    JobStatus.RUNNING: (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.QUEUED),
    JobStatus.SUCCEEDED: (),
    JobStatus.FAILED: (),
    JobStatus.CANCELLED: (),
}
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# Users have lower-case names without ':' (see access.service), so this prefix is unambiguous.
SYSTEM_PREFIX = "system:"
KIND_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def allowed(before: JobStatus, after: JobStatus) -> bool:
    """Whether the state machine lets a job go from ``before`` to ``after``."""
    return after in TRANSITIONS[before]


def creator_of(actor: Actor) -> str:
    """What a job stores as its creator: the username, or ``system:<name>``.

    >>> creator_of(Actor.system("cli")), creator_of(Actor(username="ana"))
    ('system:cli', 'ana')
    """
    return f"{SYSTEM_PREFIX}{actor.username}" if actor.is_system else actor.username


def created_by_system(created_by: str) -> bool:
    """Whether a job's creator was the installation itself, not a user.

    >>> created_by_system("system:cli"), created_by_system("ana")
    (True, False)
    """
    return created_by.startswith(SYSTEM_PREFIX)


def error_text(exc: BaseException) -> str:
    """The error a failed job shows: a user's error as its message (every problem of a
    validation on its own line), a program's fault as its type and message.

    >>> print(error_text(ValidationFailed([Problem("a", "bad"), Problem("b", "worse", line=2)])))
    2 problems; nothing was written:
    - a: bad
    - line 2: b: worse
    >>> error_text(RemitError("no user 'ana'")), error_text(KeyError("x"))
    ("no user 'ana'", "KeyError: 'x'")
    """
    if isinstance(exc, ValidationFailed):
        count = len(exc.problems)
        lines = [f"{count} problem{'' if count == 1 else 's'}; nothing was written:"]
        return "\n".join(lines + [f"- {p}" for p in exc.problems])
    if isinstance(exc, RemitError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the queue, with its parameters and result decoded."""

    id: int
    book_id: int
    kind: str
    params: Mapping[str, Any]
    status: JobStatus
    dedupe_key: str | None
    progress_done: int
    progress_total: int
    message: str
    result: Mapping[str, Any] | None
    error: str | None
    attempts: int
    worker: str | None
    created_by: str
    created_at: str
    run_after: str
    started_at: str | None
    heartbeat_at: str | None
    finished_at: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data (for a page that polls it, or the API)."""
        out = {name: getattr(self, name) for name in self.__slots__}
        out["status"] = self.status.value
        out["params"], out["result"] = (
            dict(self.params),
            (dict(self.result) if self.result is not None else None),
        )
        return out


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets besides its parameters.

    ``progress(done, total, message)`` is cheap to call often (writes are throttled). On
    SQLite call it outside your own write transaction: the store has one writer at a time.
    """

    database: Database
    vault: Vault
    book_id: int
    actor: Actor
    job_id: int
    report: Callable[[int, int, str], None]

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.report(done, total, message)


Validator = Callable[[Mapping[str, Any]], list[Problem]]
Handler = Callable[[JobContext, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class JobKind:
    code: str  # e.g. "audit.verify"
    label: str  # shown on the jobs page
    permission: Permission  # needed to start it (besides jobs.run), checked again at run time
    validate: Validator
    handler: Handler


# The registry of kinds: filled once at import by ``remit.jobs.kinds`` (and by any plugin),
# read everywhere else. It is the one mutable module-level collection of the package.
_KINDS: dict[str, JobKind] = {}


def register_job_kind(kind: JobKind) -> JobKind:
    """Add a kind of job; registering the same code twice is a program error."""
    if not KIND_CODE.match(kind.code) or len(kind.code) > 64:
        raise ValueError(f"job kind code {kind.code!r} is not like 'package.action'")
    if _KINDS.get(kind.code, kind) is not kind:
        raise ValueError(f"job kind {kind.code!r} is already registered")
    _KINDS[kind.code] = kind
    return kind


def job_kind(code: str) -> JobKind | None:
    return _KINDS.get(code)


def job_kinds() -> tuple[JobKind, ...]:
    return tuple(sorted(_KINDS.values(), key=lambda k: k.code))


def unknown_params(params: Mapping[str, Any], allowed_keys: tuple[str, ...]) -> list[Problem]:
    """A problem for each parameter a kind does not take.

    >>> [str(p) for p in unknown_params({"a": 1, "z": 2}, ("a",))]
    ['params.z: unknown parameter (this kind takes: a) [unknown_param]']
    """
    takes = ", ".join(allowed_keys) or "none"
    return [
        Problem(f"params.{key}", f"unknown parameter (this kind takes: {takes})", "unknown_param")
        for key in sorted(params)
        if key not in allowed_keys
    ]


def no_params(params: Mapping[str, Any]) -> list[Problem]:
    """The validator of a kind that takes no parameters."""
    return unknown_params(params, ())
