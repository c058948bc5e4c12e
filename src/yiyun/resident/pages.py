"""The resident portal (phone first): sign in or register with an SMS code, ask a
question with photos, follow the thread, withdraw, close and rate, join a video visit.

Only the resident's own cookie opens these pages (`web.deps.get_resident`); a staff
session does not, and the resident cookie is sent to /resident paths only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from yiyun import i18n
from yiyun.core.errors import InvalidInput, YiyunError
from yiyun.inquiry import service as inquiry_service
from yiyun.inquiry.models import InquiryState
from yiyun.resident import service
from yiyun.web import messages
from yiyun.web.blobs import private_file
from yiyun.web.deps import (
    RESIDENT_COOKIE,
    RESIDENT_PATH,
    AppSettings,
    CurrentResident,
    DbSession,
    ResidentActor,
    ResidentKeys,
    Store,
    client_ip,
    get_cipher,
)
from yiyun.web.pagekit import see_other
from yiyun.web.params import Id
from yiyun.web.templating import locale_of, render

router = APIRouter()
Files = Annotated[list[UploadFile], File(description="photos")]

FLASH = {
    "registered": "Welcome! Your account is ready.",
    "asked": "Your question is in the doctors' pool. You will see the answer here.",
    "sent": "Sent.",
    "closed": "Thank you for rating the answer.",
    "withdrawn": "Question withdrawn.",
}


def _said(request: Request, exc: YiyunError) -> str:
    text = messages.domain_message(locale_of(request), exc.code, exc.message, exc.details)
    if exc.details.get("retry_after_minutes"):
        text += " " + i18n.gettext(locale_of(request), "Try again in %(n)s minutes.") % {
            "n": exc.details["retry_after_minutes"]
        }
    return text


def portal(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request)
    done = request.query_params.get("done")
    ctx: dict[str, Any] = {
        "resident": getattr(request.state, "resident", None),
        "flash": i18n.gettext(locale, FLASH[done]) if done in FLASH else None,
        "localised": lambda zh, en: zh if locale == "zh_CN" else en,
        "both": lambda pair: (pair or "|").split("|")[0 if locale == "zh_CN" else 1],
    }
    ctx.update(context or {})
    return render(request, template, ctx, status_code=status_code)


def _set_cookie(response: Response, token: str, *, secure: bool, days: float) -> None:
    response.set_cookie(
        RESIDENT_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=int(days * 86400),
        path=RESIDENT_PATH,
    )


# --- signing in and registering ---------------------------------------------------------------


async def _form_context(session: DbSession, form: dict[str, str]) -> dict[str, Any]:
    return {"form": form, "centres": await service.centres(session)}


@router.get("/resident/login", response_class=HTMLResponse)
async def login_form(request: Request, session: DbSession) -> Response:
    return portal(request, "resident/login.html", await _form_context(session, {}))


@router.get("/resident/register", response_class=HTMLResponse)
async def register_form(request: Request, session: DbSession) -> Response:
    return portal(request, "resident/register.html", await _form_context(session, {}))


@router.post("/resident/code", response_class=HTMLResponse)
async def send_code(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    keys: ResidentKeys,
    phone: Annotated[str, Form(max_length=20)],
    purpose: Annotated[str, Form(max_length=16)] = service.SIGN_IN,
    name: Annotated[str, Form(max_length=100)] = "",
    id_number: Annotated[str, Form(max_length=18)] = "",
    institution_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Send a code and show the same form again, with what was typed kept."""
    template = "resident/register.html" if purpose == service.REGISTER else "resident/login.html"
    form = {"phone": phone, "name": name, "id_number": id_number, "institution_id": institution_id}
    ctx = await _form_context(session, form)
    try:
        await service.send_code(
            session=session,
            keys=keys,
            cfg=settings.residents,
            limiter=request.app.state.limiter,
            sms=request.app.state.outbound.sms,
            phone=phone,
            purpose=purpose,
            ip=client_ip(request),
            locale=locale_of(request),
        )
    except YiyunError as exc:
        await session.rollback()
        return portal(request, template, ctx | {"error": _said(request, exc)}, exc.status)
    return portal(request, template, ctx | {"code_sent": True})


@router.post("/resident/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    keys: ResidentKeys,
    phone: Annotated[str, Form(max_length=20)],
    code: Annotated[str, Form(max_length=8)],
) -> Response:
    try:
        issued = await service.sign_in(
            session=session,
            keys=keys,
            cfg=settings.residents,
            phone=phone,
            code=code,
            ip=client_ip(request),
        )
    except YiyunError as exc:
        if exc.keep_changes:
            await session.commit()
        ctx = await _form_context(session, {"phone": phone})
        return portal(
            request,
            "resident/login.html",
            ctx | {"error": _said(request, exc), "code_sent": True},
            exc.status,
        )
    response = see_other("/resident")
    _set_cookie(
        response,
        issued.token,
        secure=settings.security.cookie_secure,
        days=settings.residents.session_days,
    )
    return response


@router.post("/resident/register", response_class=HTMLResponse)
async def register(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    keys: ResidentKeys,
    phone: Annotated[str, Form(max_length=20)],
    code: Annotated[str, Form(max_length=8)],
    name: Annotated[str, Form(max_length=100)],
    id_number: Annotated[str, Form(max_length=18)],
    institution_id: Annotated[str, Form(max_length=12)],
) -> Response:
    form = {"phone": phone, "name": name, "id_number": id_number, "institution_id": institution_id}
    try:
        if not institution_id.isdecimal():
            raise InvalidInput(
                "choose your community health centre",
                code="resident.bad_centre",
                details={"field": "institution_id"},
            )
        resident = await service.register(
            session=session,
            keys=keys,
            cfg=settings.residents,
            data=service.Registration(
                phone=phone,
                code=code,
                name=name,
                id_number=id_number,
                institution_id=int(institution_id),
                locale=locale_of(request),
            ),
            ip=client_ip(request),
        )
        issued = await service.start_session(
            session=session, cfg=settings.residents, resident=resident, ip=client_ip(request)
        )
    except YiyunError as exc:
        if exc.keep_changes:
            await session.commit()
        else:
            await session.rollback()
        ctx = await _form_context(session, form)
        return portal(
            request,
            "resident/register.html",
            ctx | {"error": _said(request, exc), "code_sent": True},
            exc.status,
        )
    response = see_other("/resident?done=registered")
    _set_cookie(
        response,
        issued.token,
        secure=settings.security.cookie_secure,
        days=settings.residents.session_days,
    )
    return response


@router.post("/resident/logout")
async def logout(session: DbSession, resident: CurrentResident) -> Response:
    await service.sign_out(session=session, principal=resident)
    response = see_other("/resident/login")
    response.delete_cookie(RESIDENT_COOKIE, path=RESIDENT_PATH)
    return response


# --- my questions ------------------------------------------------------------------------------


@router.get("/resident", response_class=HTMLResponse)
async def home(request: Request, session: DbSession, resident: CurrentResident) -> Response:
    rows = await inquiry_service.mine_as_resident(session, resident)
    return portal(
        request,
        "resident/home.html",
        {"rows": rows, "names": await inquiry_service.names(session, rows)},
    )


@router.get("/resident/ask", response_class=HTMLResponse)
async def ask_form(request: Request, session: DbSession, resident: CurrentResident) -> Response:
    return portal(request, "resident/ask.html", await _ask_context(session, resident, {}))


async def _ask_context(
    session: DbSession, resident: CurrentResident, form: dict[str, str]
) -> dict[str, Any]:
    pools = await inquiry_service.pools_for(session, resident)
    departments = await inquiry_service.departments_of(session, [p.id for p in pools])
    return {"pools": pools, "departments": departments, "form": form}


def _int_or_none(value: str, field: str) -> int | None:
    if not value:
        return None
    if not value.isdecimal() or len(value) > 9:
        raise InvalidInput(
            "a field has an invalid value", code="form.invalid", details={"field": field}
        )
    return int(value)


async def _uploads(files: list[UploadFile]) -> list[inquiry_service.Upload]:
    found = []
    for f in files:
        data = await f.read()
        if f.filename or data:  # an empty file input sends one nameless, empty part
            found.append(inquiry_service.Upload(filename=f.filename or "photo", data=data))
    return found


@router.post("/resident/ask")
async def ask(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    store: Store,
    resident: CurrentResident,
    actor: ResidentActor,
    pool: Annotated[str, Form(max_length=24)],
    title: Annotated[str, Form(max_length=200)],
    body: Annotated[str, Form(max_length=4000)],
    photos: Files = [],  # noqa: B006  (FastAPI reads the default, it is not mutated)
) -> Response:
    # "pool" is "<institution id>" or "<institution id>:<department id>"
    inst, _, dept = pool.partition(":")
    inquiry = await inquiry_service.ask(
        session=session,
        bus=request.app.state.bus,
        store=store,
        cfg=settings.inquiry,
        principal=resident,
        actor=actor,
        institution_id=_int_or_none(inst, "pool") or 0,
        department_id=_int_or_none(dept, "pool"),
        title=title,
        body=body,
        uploads=await _uploads(photos),
    )
    return see_other(f"/resident/inquiries/{inquiry.id}?done=asked")


@router.get("/resident/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def show(
    inquiry_id: Id, request: Request, session: DbSession, resident: CurrentResident
) -> Response:
    inquiry = await inquiry_service.for_resident(
        session=session, principal=resident, inquiry_id=inquiry_id
    )
    thread = await inquiry_service.thread(session, inquiry, cipher=get_cipher(request))
    return portal(
        request, "resident/inquiry.html", {"t": thread, "S": InquiryState, "stars": range(5, 0, -1)}
    )


@router.post("/resident/inquiries/{inquiry_id}/messages")
async def follow_up(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    store: Store,
    resident: CurrentResident,
    actor: ResidentActor,
    body: Annotated[str, Form(max_length=4000)],
    photos: Files = [],  # noqa: B006
) -> Response:
    await inquiry_service.follow_up(
        session=session,
        bus=request.app.state.bus,
        store=store,
        cfg=settings.inquiry,
        principal=resident,
        actor=actor,
        inquiry_id=inquiry_id,
        body=body,
        uploads=await _uploads(photos),
    )
    return see_other(f"/resident/inquiries/{inquiry_id}?done=sent")


@router.post("/resident/inquiries/{inquiry_id}/withdraw")
async def withdraw(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    resident: CurrentResident,
    actor: ResidentActor,
) -> Response:
    await inquiry_service.withdraw(
        session=session,
        bus=request.app.state.bus,
        principal=resident,
        actor=actor,
        inquiry_id=inquiry_id,
    )
    return see_other(f"/resident/inquiries/{inquiry_id}?done=withdrawn")


@router.post("/resident/inquiries/{inquiry_id}/close")
async def close(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    resident: CurrentResident,
    actor: ResidentActor,
    rating: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    await inquiry_service.close(
        session=session,
        bus=request.app.state.bus,
        principal=resident,
        actor=actor,
        inquiry_id=inquiry_id,
        rating=rating,
        comment=comment,
    )
    return see_other(f"/resident/inquiries/{inquiry_id}?done=closed")


@router.get("/resident/inquiries/{inquiry_id}/files/{file_id}")
async def file(
    inquiry_id: Id,
    file_id: Id,
    request: Request,
    session: DbSession,
    store: Store,
    resident: CurrentResident,
) -> Response:
    inquiry = await inquiry_service.for_resident(
        session=session, principal=resident, inquiry_id=inquiry_id
    )
    row = await inquiry_service.file_for(session, inquiry, file_id)
    return await private_file(request, store, row.blob_key, row.content_type)
