"""Pages of child care: the certificates with the version in force on a day, the import of
families and certificates, a certificate's versions with a change from a date and its
notices of action, and a family's page."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.childcare import adjustments as cc_adjustments
from remit.childcare import compliance
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.money import parse_money
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors, notice_redirect, signed_notice
from remit.web.templating import money_text

router = APIRouter(prefix="/b/{book}/childcare")
Read = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_READ))]
Edit = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_EDIT))]
PAGE = 100
ADJUSTMENT_WORDS = {
    "underpayment": "an underpayment, payable to the provider",
    "recovery": "an overpayment, recovered from the provider's next payments (consent on file)",
    "receivable": "an overpayment, a receivable from the provider (no consent on file)",
}
FIELD_WORDS = {
    "start_date": "first day",
    "end_date": "last day",
    "schedule": "hours",
    "rate_category": "rate category",
    "time_basis": "full or part time",
    "evening_weekend_share": "evening and weekend share",
    "exceptional_needs": "exceptional needs",
    "severely_disabled": "severely disabled",
    "provider_rate_minor": "provider's rate",
}


def _problem_lines(exc: ValidationFailed) -> list[str]:
    out = []
    for p in exc.problems[:100]:
        where = ", ".join(x for x in (p.source, f"line {p.line}" if p.line else "", p.field) if x)
        out.append(f"{where}: {p.message}")
    if len(exc.problems) > 100:
        out.append(f"... and {len(exc.problems) - 100:,} more")
    return out


def _day(text: str, fallback: date) -> date:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else fallback
    except ValueError:
        return fallback


def _home(
    ctx: Ctx,
    q: str = "",
    on: str = "",
    offset: int = 0,
    errors: list[str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        today = ledger.book_today(conn, ctx.book_id)
        day = _day(on, today)
        rows, total = childcare.list_certificates(
            conn, ctx.actor, ctx.book_id, on=day, search=q, limit=PAGE, offset=offset
        )
        months = cc_month.months(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "childcare/home.html",
        status,
        months=months,
        nav="childcare",
        rows=rows,
        total=total,
        q=q,
        on=day,
        offset=offset,
        page=PAGE,
        errors=errors or [],
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("", response_class=HTMLResponse)
def home(
    ctx: Read,
    q: Annotated[str, Query(max_length=64)] = "",
    on: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    notice: str = "",
    sig: str = "",
) -> HTMLResponse:
    return _home(ctx, q, on, offset, notice=signed_notice(ctx, notice, sig))


@router.post("/import", response_class=HTMLResponse)
def import_files(
    ctx: Edit,
    providers: Annotated[UploadFile | None, File()] = None,
    documents: Annotated[UploadFile | None, File()] = None,
    ceilings: Annotated[UploadFile | None, File()] = None,
    families: Annotated[UploadFile | None, File()] = None,
    certificates: Annotated[UploadFile | None, File()] = None,
    attendance: Annotated[UploadFile | None, File()] = None,
    once: forms.Once = "",
) -> Response:
    """The exchange files into the book, all or nothing: providers, their file records and
    ceilings, then families and certificates, then attendance records (each may be left
    out)."""
    uploads = {
        "providers": providers,
        "documents": documents,
        "ceilings": ceilings,
        "families": families,
        "certificates": certificates,
        "attendance": attendance,
    }
    given = {
        name: (upload.filename, upload.file.read(MAX_UPLOAD_BYTES + 1))
        for name, upload in uploads.items()
        if upload is not None and upload.filename
    }
    try:
        if any(len(content) > MAX_UPLOAD_BYTES for _n, content in given.values()):
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        if not given:
            raise ValidationFailed([Problem("file", "give one file or more", "required")])
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.import")
            said = _import_all(conn, ctx, given)
            answer = notice_redirect(ctx, f"/b/{ctx.code}/childcare", said)
            forms.spend(conn, ctx, once, "childcare.import", answer.headers["location"])
    except ValidationFailed as exc:
        return _home(ctx, errors=_problem_lines(exc), status=422)
    return answer


def _import_all(conn: Any, ctx: Ctx, given: dict[str, tuple[str, bytes]]) -> str:
    """Every file in order; every problem of every file before anything is kept."""
    problems: list[Problem] = []
    said: list[str] = []
    book, actor = ctx.book_id, ctx.actor
    try:
        if "providers" in given:
            name, content = given["providers"]
            done_providers = cc_month.import_providers(conn, actor, book, content, name)
            said.append(f"{done_providers.written} providers set")
            if done_providers.flags_unread:
                said.append(cc_month.FLAGS_UNREAD)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        if "documents" in given:
            name, content = given["documents"]
            new, _same = compliance.import_documents(conn, actor, book, content, name)
            said.append(f"{new} new provider file records")
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        if "ceilings" in given:
            name, content = given["ceilings"]
            said.append(
                f"{cc_month.import_ceilings(conn, actor, book, content, name)[0]} new ceilings"
            )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        if "families" in given or "certificates" in given:
            done = childcare.import_files(
                conn,
                actor,
                book,
                families=given["families"][1] if "families" in given else None,
                certificates=given["certificates"][1] if "certificates" in given else None,
                families_name=given.get("families", ("families.csv",))[0],
                certificates_name=given.get("certificates", ("certs.csv",))[0],
            )
            said.append(
                f"{done.families_created} new and {done.families_updated} changed families, "
                f"{done.children_created} new children, {done.certificates_created} new "
                f"certificates, {done.versions_created} new versions"
            )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        if "attendance" in given:
            name, content = given["attendance"]
            got = cc_month.import_attendance(conn, actor, book, content, name)
            said.append(
                f"{got.records_new} new and {got.records_replaced} replaced records"
                + (f", {got.records_unchanged} as they were" if got.records_unchanged else "")
            )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if problems:
        raise ValidationFailed(problems)
    return "imported: " + "; ".join(said)


def _certificate_page(
    ctx: Ctx,
    certificate_id: int,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        detail = childcare.certificate(conn, ctx.actor, ctx.book_id, certificate_id)
        today = ledger.book_today(conn, ctx.book_id)
    versions = detail["versions"]
    current = next((v for v in reversed(versions) if v["version_from"] <= today), versions[0])
    return ctx.page(
        "childcare/certificate.html",
        status,
        nav="childcare",
        c=detail,
        current=current,
        today=today,
        words=FIELD_WORDS,
        errors=errors or {},
        values=values or {},
        placeholders=_change_defaults(current),
        notice=notice,
    )


def _change_defaults(v: dict[str, Any]) -> dict[str, str]:
    rate = v["provider_rate"].amount_minor
    return {
        "start_date": v["start_date"].isoformat(),
        "end_date": v["end_date"].isoformat(),
        "schedule": v["schedule"],
        "rate_category": v["rate_category"],
        "time_basis": v["time_basis"],
        "evening_weekend_share": v["evening_weekend_share"],
        "exceptional_needs": "yes" if v["exceptional_needs"] else "no",
        "severely_disabled": "yes" if v["severely_disabled"] else "no",
        "provider_rate": f"{rate // 100}.{rate % 100:02d}",
    }


@router.get("/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate_page(
    ctx: Read, certificate_id: Id, notice: str = "", sig: str = ""
) -> HTMLResponse:
    return _certificate_page(ctx, certificate_id, notice=signed_notice(ctx, notice, sig))


@router.post("/certificates/{certificate_id}/versions", response_class=HTMLResponse)
def change(
    ctx: Edit,
    certificate_id: Id,
    version_from: Annotated[str, Form(max_length=10)] = "",
    start_date: Annotated[str, Form(max_length=10)] = "",
    end_date: Annotated[str, Form(max_length=10)] = "",
    schedule: Annotated[str, Form(max_length=120)] = "",
    rate_category: Annotated[str, Form(max_length=10)] = "",
    time_basis: Annotated[str, Form(max_length=10)] = "",
    evening_weekend_share: Annotated[str, Form(max_length=10)] = "",
    exceptional_needs: Annotated[str, Form(max_length=3)] = "",
    severely_disabled: Annotated[str, Form(max_length=3)] = "",
    provider_rate: Annotated[str, Form(max_length=14)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    once: forms.Once = "",
) -> Response:
    """A new version from a date: the fields as the form gives them, the rest kept."""
    typed = {
        "version_from": version_from,
        "start_date": start_date,
        "end_date": end_date,
        "schedule": schedule,
        "rate_category": rate_category,
        "time_basis": time_basis,
        "evening_weekend_share": evening_weekend_share,
        "exceptional_needs": exceptional_needs,
        "severely_disabled": severely_disabled,
        "provider_rate": provider_rate,
        "reason": reason,
    }
    try:
        try:
            first = date.fromisoformat(version_from.strip())
        except ValueError:
            problem = Problem("version_from", "a date like 2027-01-01", "date")
            raise ValidationFailed([problem]) from None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.change")
            changes = {k: typed[k] for k in childcare.CHANGEABLE if typed[k].strip()}
            childcare.change_certificate(
                conn, ctx.actor, ctx.book_id, certificate_id, first, changes, reason
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/certificates/{certificate_id}",
                f"a new version from {first.isoformat()} is saved: issue its notice of action",
            )
            forms.spend(conn, ctx, once, "childcare.change", answer.headers["location"])
    except ValidationFailed as exc:
        return _certificate_page(ctx, certificate_id, field_errors(exc), typed, status=422)
    return answer


@router.post("/certificates/{certificate_id}/notices", response_class=HTMLResponse)
def notice(
    ctx: Edit,
    certificate_id: Id,
    version_from: Annotated[str, Form(max_length=10)] = "",
    language: Annotated[str, Form(max_length=2)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    once: forms.Once = "",
) -> Response:
    """The notice of action of one version, written to the family and kept as a PDF; the
    reason may be given in the letter's language."""
    try:
        try:
            first = date.fromisoformat(version_from.strip())
        except ValueError:
            problem = Problem("version_from", "a date like 2027-01-01", "date")
            raise ValidationFailed([problem]) from None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.notice")
            letter_id = childcare.issue_notice(
                conn, ctx.actor, ctx.book_id, certificate_id, first, language or None, reason
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/certificates/{certificate_id}",
                f"notice of action {letter_id} for the version from {first.isoformat()} issued",
            )
            forms.spend(conn, ctx, once, "childcare.notice", answer.headers["location"])
    except ValidationFailed as exc:
        errors = {"notice": [f"{p.field}: {p.message}" for p in exc.problems]}
        return _certificate_page(ctx, certificate_id, errors, status=422)
    return answer


@router.get("/families/{family_id}", response_class=HTMLResponse)
def family_page(ctx: Read, family_id: Id) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = childcare.family(conn, ctx.actor, ctx.book_id, family_id)
    return ctx.page("childcare/family.html", nav="childcare", f=found)


Month = Annotated[str, FastPath(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", max_length=7)]


def _month_of(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


@router.get("/months/{month}", response_class=HTMLResponse)
def month_page(
    ctx: Read,
    month: Month,
    status: Annotated[str, Query(pattern=r"^(payable|incomplete)?$", max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    notice: str = "",
    sig: str = "",
) -> HTMLResponse:
    return _month_page(ctx, month, status, offset, notice=signed_notice(ctx, notice, sig))


def _month_page(
    ctx: Ctx,
    month: str,
    status: str = "",
    offset: int = 0,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    code: int = 200,
) -> HTMLResponse:
    first = _month_of(month)
    with ctx.db.read() as conn:
        rows, totals = cc_month.month_rows(
            conn, ctx.actor, ctx.book_id, first, status=status, limit=PAGE, offset=offset
        )
        book = ledger.get_book(conn, ctx.book_id)
        made = cc_adjustments.adjustments(conn, ctx.actor, ctx.book_id, first)
        held = compliance.month_missing(conn, ctx.actor, ctx.book_id, first)
    return ctx.page(
        "childcare/month.html",
        code,
        held_files=held,
        adjustments=made,
        errors=errors or {},
        values=values or {},
        nav="childcare",
        month=first,
        code_month=month,
        rows=rows,
        totals=totals,
        shown=status,
        offset=offset,
        page=PAGE,
        currency=book["base_currency"],
        notice=notice,
    )


@router.post("/months/{month}/adjustments", response_class=HTMLResponse)
def month_adjust(
    ctx: Edit,
    month: Month,
    certificate_ref: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    once: forms.Once = "",
) -> Response:
    """An over- (a minus amount) or underpayment of a posted child-month, with its reason."""
    typed = {"certificate_ref": certificate_ref, "amount": amount, "reason": reason}
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.adjust")
            currency = str(ledger.get_book(conn, ctx.book_id)["base_currency"])
            try:
                minor = parse_money(amount, currency).amount_minor
            except ValueError:
                problem = Problem("amount", "an amount like 12.50 or -12.50", "amount")
                raise ValidationFailed([problem]) from None
            done = cc_adjustments.adjust(
                conn,
                ctx.actor,
                ctx.book_id,
                certificate_ref.strip(),
                _month_of(month),
                minor,
                reason,
            )
            words = ADJUSTMENT_WORDS[done.kind]
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/months/{month}",
                f"{certificate_ref.strip()}: {money_text(minor, currency, False)} as {words}",
            )
            forms.spend(conn, ctx, once, "childcare.adjust", answer.headers["location"])
    except ValidationFailed as exc:
        return _month_page(ctx, month, errors=field_errors(exc), values=typed, code=422)
    return answer


@router.post("/months/{month}/consents", response_class=HTMLResponse)
def month_consent(
    ctx: Edit,
    month: Month,
    file: Annotated[UploadFile, File()],
    provider: Annotated[str, Form(max_length=64)] = "",
    given_on: Annotated[str, Form(max_length=10)] = "",
    once: forms.Once = "",
) -> Response:
    """A provider's signed consent to recover overpayments from its later payments."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    typed = {"provider": provider, "given_on": given_on}
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        try:
            signed = date.fromisoformat(given_on.strip())
        except ValueError:
            problem = Problem("given_on", "the date it was signed, like 2026-11-03", "date")
            raise ValidationFailed([problem]) from None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.consent")
            cc_adjustments.record_consent(
                conn,
                ctx.actor,
                ctx.book_id,
                provider.strip(),
                file.filename or "consent.pdf",
                content,
                signed,
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/months/{month}",
                f"{provider.strip()}'s consent to recover overpayments is on file",
            )
            forms.spend(conn, ctx, once, "childcare.consent", answer.headers["location"])
    except ValidationFailed as exc:
        return _month_page(ctx, month, errors=field_errors(exc), values=typed, code=422)
    return answer


@router.post("/months/{month}/calculate", response_class=HTMLResponse)
def month_calculate(ctx: Edit, month: Month, once: forms.Once = "") -> Response:
    """Calculate the month from the book (rows not yet posted are replaced)."""
    with ctx.db.write() as conn:
        forms.replay_if_spent(conn, ctx, once, "childcare.calculate")
        done = cc_month.calculate_month(conn, ctx.actor, ctx.book_id, _month_of(month))
        said = (
            f"{done.payable} payable and {done.incomplete} incomplete rows"
            + (
                f"; {done.posted_kept} rows were posted already and are kept"
                if done.posted_kept
                else ""
            )
            + (
                f"; {done.differs} of them now calculate differently: an adjustment is needed"
                if done.differs
                else ""
            )
        )
        answer = notice_redirect(ctx, f"/b/{ctx.code}/childcare/months/{month}", said)
        forms.spend(conn, ctx, once, "childcare.calculate", answer.headers["location"])
    return answer


@router.post("/months/{month}/post", response_class=HTMLResponse)
def month_post(ctx: Edit, month: Month, once: forms.Once = "") -> Response:
    """Post the month's payable rows not yet posted, each once, for payment runs to pay."""
    with ctx.db.write() as conn:
        forms.replay_if_spent(conn, ctx, once, "childcare.post")
        done = cc_month.post_month(conn, ctx.actor, ctx.book_id, _month_of(month))
        book = ledger.get_book(conn, ctx.book_id)
        said = (
            f"posted {done.posted} child-month(s), "
            f"{money_text(done.net_minor, str(book['base_currency']), False)}, for payment"
        )
        answer = notice_redirect(ctx, f"/b/{ctx.code}/childcare/months/{month}", said)
        forms.spend(conn, ctx, once, "childcare.post", answer.headers["location"])
    return answer


@router.get("/months/{month}/timeliness", response_class=HTMLResponse)
def timeliness_page(ctx: Read, month: Month) -> HTMLResponse:
    first = _month_of(month)
    with ctx.db.read() as conn:
        rows, summary = cc_month.timeliness(conn, ctx.actor, ctx.book_id, first)
        book = ledger.get_book(conn, ctx.book_id)
    return ctx.page(
        "childcare/timeliness.html",
        nav="childcare",
        month=first,
        code_month=month,
        rows=rows,
        summary=summary,
        currency=book["base_currency"],
    )
