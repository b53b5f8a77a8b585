"""What the JSON API ``/api/v1`` shares: token auth, problem details, idempotency, cursors,
and the exact schema of money.

- Auth: ``Authorization: Bearer rmt_<prefix>_<secret>``; a token belongs to one book and
  acts for its user within its scopes (``access.tokens``).
- Errors: RFC 9457 problem details (``application/problem+json``) with every problem's field.
- POST: an ``Idempotency-Key`` header is required; the first answer is stored with the key in
  the same transaction as the effect, and a replay gets that answer back
  (``Idempotent-Replayed: true``), never a second effect. The same key with a different
  request is refused (422).
- Lists: ``limit`` and an opaque ``cursor``; the answer carries ``next_cursor`` (null at the
  end).
- Money: ``amount_minor`` is an integer of minor units with its ISO 4217 ``currency``; a
  read-only ``amount`` repeats it as a decimal string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, insert, select
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.access.model import Actor, Permission
from remit.access.tokens import token_actor, touch_token
from remit.db import Database
from remit.errors import Forbidden, Problem, RemitError, ValidationFailed
from remit.ledger import service as ledger
from remit.money import BALANCE_LIMIT_MINOR, MAX_AMOUNT_MINOR, Money
from remit.web.deps import LoginRequired, render, state
from remit.web.store import idempotency_records

DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else ""
PROBLEM_TYPE = "https://remit.dev/problems/"
MAX_LIMIT = 200

health = APIRouter()


@health.get("/health", include_in_schema=False)
def health_check() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@health.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def api_reference(request: Request) -> HTMLResponse:
    """The API reference, rendered on the server from the OpenAPI schema (no CDN, no script:
    the pages' Content-Security-Policy allows neither)."""
    schema = request.app.openapi()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "tag": (op.get("tags") or ["other"])[0],
            "parameters": op.get("parameters", []),
            "security": [name for need in op.get("security", []) for name in need],
            "body": _schema_name(op.get("requestBody", {})),
            "responses": {
                code: r.get("description", "") for code, r in op.get("responses", {}).items()
            },
            "anchor": op.get("operationId", f"{method}-{path}"),
        }
        for path, item in schema.get("paths", {}).items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    operations.sort(key=lambda o: (o["tag"], o["path"], o["method"]))
    return render(
        request,
        "api_docs.html",
        schema=schema,
        operations=operations,
        components=schema.get("components", {}).get("schemas", {}),
        security_schemes=schema.get("components", {}).get("securitySchemes", {}),
    )


def _schema_name(body: dict[str, Any]) -> str:
    content = body.get("content", {})
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else "JSON"
    return ""


# ---------------------------------------------------------------- schemas


class ProblemItem(BaseModel):
    field: str
    message: str
    check: str = ""
    line: int | None = None
    source: str = ""


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] = []


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {
        "model": ProblemDetails,
        "description": text,
        "content": {"application/problem+json": {}},
    }
    for code, text in (
        (400, "Bad request"),
        (401, "No valid token"),
        (403, "The token's user or scopes do not allow it"),
        (404, "Not found in this book"),
        (409, "Conflicts with the state"),
        (422, "Invalid input; every problem is listed"),
    )
}

MinorUnits = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_AMOUNT_MINOR,
        le=MAX_AMOUNT_MINOR,
        description="Integer count of the currency's minor units (pence, cents; yen have none);"
        " one posting carries at most 10^15 either way",
        json_schema_extra={"format": "int64"},
    ),
]
# What the store can hold in a balance or a day's total (BIGINT): every answer accepts it,
# so that no balance the ledger holds makes a page or an API call fail.
BalanceMinor = Annotated[
    int,
    Field(
        strict=True,
        ge=-BALANCE_LIMIT_MINOR,
        le=BALANCE_LIMIT_MINOR,
        description="Integer count of the currency's minor units (a balance or a total)",
        json_schema_extra={"format": "int64"},
    ),
]
Currency = Annotated[
    str,
    Field(pattern="^[A-Z]{3}$", min_length=3, max_length=3, description="ISO 4217 currency code"),
]
DecimalText = Annotated[
    str,
    Field(pattern=r"^-?[0-9]+(\.[0-9]{1,4})?$", description="The same amount as a decimal string"),
]


class MoneyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: BalanceMinor
    currency: Currency
    amount: DecimalText

    @classmethod
    def of(cls, minor: int, currency: str) -> MoneyOut:
        return cls(
            amount_minor=minor, currency=currency, amount=str(Money(minor, currency).to_decimal())
        )


class Page(BaseModel):
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


# ---------------------------------------------------------------- problems


def problem(
    status: int,
    title: str,
    detail: str,
    problems: Iterable[object] = (),
    instance: str | None = None,
) -> JSONResponse:
    items = []
    for p in problems:
        if isinstance(p, Problem):
            items.append(
                {
                    "field": p.field,
                    "message": p.message,
                    "check": p.check,
                    "line": p.line,
                    "source": p.source,
                }
            )
    slug = title.lower().replace(" ", "-")
    body = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "errors": items,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def request_problems(exc: RequestValidationError) -> list[Problem]:
    """FastAPI's request validation errors as remit problems (field = the dotted location)."""
    out = []
    for err in exc.errors():
        location = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        out.append(
            Problem(
                location or "request",
                str(err.get("msg", "invalid")),
                str(err.get("type", "invalid")),
            )
        )
    return out


# ---------------------------------------------------------------- auth


class MissingIdempotencyKey(RemitError):
    """A POST without an Idempotency-Key (400, as the IETF idempotency draft says)."""


@dataclass
class ApiCtx:
    request: Request
    db: Database
    actor: Actor
    book: dict[str, Any]
    principal: str  # the token's prefix
    idempotency_key: str | None

    @property
    def book_id(self) -> int:
        return int(self.book["id"])


# The schema's one security scheme: every operation of a book needs a bearer token. Its
# own refusal is off (``auto_error``), so that a missing token is our 401 problem.
BEARER = HTTPBearer(
    scheme_name="bearerToken",
    bearerFormat="rmt_<prefix>_<secret>",
    description="An API token of the book (`Authorization: Bearer rmt_...`), made by its "
    "admin on the API tokens page or with `remit token create`",
    auto_error=False,
)
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 200
# The Idempotency-Key header as the schema declares it: ``openapi_extra=IDEMPOTENT`` on every
# ``api.post`` (and on nothing else). ``ApiNeed`` checks it once the token is good: missing
# is a 400 (as the IETF idempotency draft says), too long a 422.
IDEMPOTENT: dict[str, Any] = {
    "parameters": [
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
            "description": "A unique key per intended change; a replay with the same key and "
            "request returns the first answer (`Idempotent-Replayed: true`)",
        }
    ]
}


class ApiNeed:
    """An API endpoint of a book that needs ``permission`` (from the token's user and
    scopes). POSTs need an ``Idempotency-Key``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"ApiNeed({self.permission.value})"

    def __call__(
        self,
        request: Request,
        book: str,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> ApiCtx:
        db = state(request).db
        token = bearer.credentials.strip() if bearer is not None else ""
        if not token:
            raise LoginRequired
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        with db.read() as conn:
            found = token_actor(conn, token)
            if found is None:
                raise LoginRequired
            book_row = ledger.get_book(conn, ledger.book_id_for(conn, book))
        if found.stale:  # the last use, at most once a minute, skipped while the lock is held
            db.write_if_free(lambda conn: touch_token(conn, found.prefix))
        if int(book_row["id"]) != found.book_id:
            raise Forbidden("this token belongs to another book")
        if not found.actor.can(found.book_id, self.permission):
            raise Forbidden(
                f"the token may not {self.permission.value} (its user's roles "
                "or its scopes do not allow it)"
            )
        if request.method == "POST":
            _check_idempotency_key(idempotency_key)
        return ApiCtx(
            request,
            db,
            found.actor,
            book_row,
            found.prefix,
            (idempotency_key or "").strip() or None,
        )


# ---------------------------------------------------------------- idempotency


def _check_idempotency_key(key: str | None) -> None:
    if not (key or "").strip():
        raise MissingIdempotencyKey(
            f"send an {IDEMPOTENCY_HEADER} header with every POST "
            "(a unique value per intended change)"
        )
    if len(key or "") > IDEMPOTENCY_KEY_MAX:
        raise ValidationFailed(
            [
                Problem(
                    IDEMPOTENCY_HEADER,
                    f"at most {IDEMPOTENCY_KEY_MAX} characters",
                    "string_too_long",
                )
            ]
        )


def _request_hash(ctx: ApiCtx, payload: Any) -> str:
    text = f"{ctx.request.method} {ctx.request.url.path} " + audit.canonical(payload)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent(
    ctx: ApiCtx, payload: Any, effect: Callable[[Connection], tuple[int, Any]]
) -> JSONResponse:
    """Run ``effect`` once per Idempotency-Key; a replay answers what the first call did."""
    assert ctx.idempotency_key is not None
    digest = _request_hash(ctx, payload)
    replay = _stored(ctx, digest)
    if replay is not None:
        return replay
    try:
        with ctx.db.write() as conn:
            replay = _stored(ctx, digest, conn)
            if replay is not None:
                return replay
            status, body = effect(conn)
            conn.execute(
                insert(idempotency_records).values(
                    book_id=ctx.book_id,
                    principal=ctx.principal,
                    idempotency_key=ctx.idempotency_key,
                    request_hash=digest,
                    status_code=status,
                    response_body=json.dumps(body),
                    created_at=audit.utc_now_text(),
                )
            )
    except IntegrityError:
        # Another request with the same key committed first: answer what it did.
        replay = _stored(ctx, digest)
        if replay is None:
            raise
        return replay
    return JSONResponse(body, status_code=status)


def _stored(ctx: ApiCtx, digest: str, conn: Connection | None = None) -> JSONResponse | None:
    ir = idempotency_records.c
    query = select(ir.request_hash, ir.status_code, ir.response_body).where(
        and_(
            ir.book_id == ctx.book_id,
            ir.principal == ctx.principal,
            ir.idempotency_key == ctx.idempotency_key,
        )
    )
    if conn is None:
        with ctx.db.read() as reader:
            row = reader.execute(query).first()
    else:
        row = conn.execute(query).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise ValidationFailed(
            [
                Problem(
                    "Idempotency-Key",
                    f"{ctx.idempotency_key!r} was already used for a different request",
                    "key_reused",
                )
            ]
        )
    return JSONResponse(
        json.loads(row.response_body),
        status_code=int(row.status_code),
        headers={"Idempotent-Replayed": "true"},
    )


# ---------------------------------------------------------------- cursors


def encode_cursor(values: dict[str, Any]) -> str:
    """An opaque cursor.

    >>> decode_cursor(encode_cursor({"after": 42}))
    {'after': 42}
    """
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed([Problem("cursor", "not a cursor this API gave out", "cursor")])
    return value
