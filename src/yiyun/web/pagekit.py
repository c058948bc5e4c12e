"""What every signed-in page needs: navigation by role, role labels, flash messages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from yiyun import i18n
from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.core.errors import InvalidInput
from yiyun.org.enums import Role
from yiyun.web.messages import clean_validation
from yiyun.web.templating import locale_of, render

ROLE_LABELS = {
    "consortium_admin": "Consortium administrator",
    "institution_admin": "Institution administrator",
    "community_doctor": "Community doctor",
    "specialist": "Specialist",
    "nurse": "Nurse",
    "dispatcher": "Dispatcher",
    "authority": "Health authority",
    "ops_engineer": "Operations engineer",
}

KIND_LABELS = {
    "lead_hospital": "Lead hospital",
    "hospital": "Hospital",
    "community_health_centre": "Community health centre",
    "health_authority": "Health authority",
}


def role_label(locale: str, role: str) -> str:
    return i18n.gettext(locale, ROLE_LABELS.get(role, role))


def page(
    request: Request,
    principal: Principal,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request)
    own = Target.of(principal.institution_id)
    nav = {
        "patients": allows(principal, Action.LIST_PATIENTS, own),
        "imaging": allows(principal, Action.READ_PATIENT, own)
        or allows(principal, Action.READ_PATIENT, Target()),
        "audit": allows(principal, Action.VIEW_AUDIT, own),
        "quality": allows(principal, Action.VIEW_CALL_QUALITY),
        "ops": allows(principal, Action.VIEW_OPERATIONS, own),
        "break_glass": allows(principal, Action.BREAK_GLASS, own),
        "command": allows(principal, Action.COMMAND_EMERGENCY),
        "stats": allows(principal, Action.VIEW_STATS, own),
        "supervision": allows(principal, Action.VIEW_SUPERVISION, own),
        "clinics": allows(principal, Action.HOLD_CLINIC, own)
        or allows(principal, Action.BOOK_CLINIC, own),
        "referrals": allows(principal, Action.REFER, own),
        "partners": allows(principal, Action.VIEW_PARTNER, own),
        "inquiries": principal.has(Role.COMMUNITY_DOCTOR, Role.SPECIALIST),
        "consults": principal.has(
            Role.COMMUNITY_DOCTOR, Role.SPECIALIST, Role.NURSE, Role.DISPATCHER, Role.AUTHORITY
        ),
        "tasks": allows(principal, Action.RESPOND_EMERGENCY, own)
        and not allows(principal, Action.COMMAND_EMERGENCY),
    }
    flash_key = request.query_params.get("done")
    ctx: dict[str, Any] = {
        "nav": nav,
        "role_labels": "、".join(role_label(locale, r) for r in sorted(principal.roles))
        if locale == "zh_CN"
        else ", ".join(role_label(locale, r) for r in sorted(principal.roles)),
        "role_label": lambda r: role_label(locale, str(r)),
        "kind_label": lambda k: i18n.gettext(locale, KIND_LABELS.get(str(k), str(k))),
        "flash": i18n.gettext(locale, FLASH[flash_key]) if flash_key in FLASH else None,
        "can": lambda action, inst=None: allows(
            principal, Action(action), Target.of(inst) if inst else Target()
        ),
        "localised": lambda zh, en: zh if locale == "zh_CN" else en,
    }
    ctx.update(context or {})
    return render(request, template, ctx, status_code=status_code)


FLASH = {
    "saved": "Saved.",
    "created": "Created.",
    "disabled": "Account disabled; its sessions have ended.",
    "enabled": "Account enabled.",
    "unlocked": "Sign-in lockout lifted.",
    "registered": "Patient registered.",
    "consent": "Consent recorded.",
    "withdrawn": "Consent withdrawn.",
    "uploaded": "File uploaded.",
    "scheduled": "Meeting scheduled; the invitees have been told.",
    "cancelled": "Meeting cancelled; the invitees have been told.",
    "invited": "Invitation sent.",
    "revoked": "Invitation withdrawn.",
    "allowed_back": "They may join the meeting again.",
    "role": "Role changed.",
    "ended": "Emergency access ended.",
    "video_uploaded": "Video uploaded; it is being prepared for playback.",
    "video_withdraw": "The video was taken out of the library.",
    "video_republish": "The video is back in the library.",
    "enrolled": "You are enrolled on the course.",
    "quiz_passed": "Passed. The quiz counts towards your credit.",
    "quiz_failed": "Not passed yet; you may try again.",
    "credential_revoked": "The terminal's credential was revoked.",
    "alarm": "Alarm updated.",
    "booked": "Patient booked.",
    "signed": "Prescription signed.",
    "linked": "Study linked to the patient.",
    "imaged": "Images stored.",
    "opinion_signed": "The opinion is signed; both institutions hold the PDF.",
    "replayed": "The delivery is queued to be sent again.",
    "sample_drawn": "Sample drawn.",
    "window_added": "The window is in your calendar.",
    "window_removed": "The window was withdrawn; consultations already booked in it stay.",
    "taken": "You accepted the consultation for your department.",
}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def invalid(exc: ValueError) -> InvalidInput:
    """Form errors in the same shape as the API's (a field's own parse error too)."""
    if not isinstance(exc, ValidationError):
        return InvalidInput("a field has an invalid value", code="form.invalid")
    return InvalidInput(
        "Some values are not valid; see the fields marked.",
        details={"errors": clean_validation(list(exc.errors()), exc.title)},
    )
