"""What an error says to a person: one translated sentence, fields named by their labels.

Domain errors carry an English sentence (the catalogue's msgid) and a stable `code`.
A sentence built at run time (an f-string) cannot be looked up, so such errors are
told by their code (`CODE_MESSAGES`). Validation errors (pydantic's `type` and `ctx`)
become sentences naming the field by the label the form shows (`FIELD_LABELS`).
Machine-readable parts (`code`, `type`, `loc`) stay in the details for API clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiyun import i18n
from yiyun.core.clock import DISTRICT_TZ
from yiyun.core.types import EMAIL_PATTERN

# Field name (as in forms and JSON bodies) → the label users see next to it.
FIELD_LABELS: dict[str, str] = {
    "client_assertion": "Client assertion",
    "client_assertion_type": "Client assertion type",
    "contact_email": "Email",
    "contact_name": "Contact",
    "contact_phone": "Phone",
    "events": "Event types",
    "grant_type": "Grant type",
    "jwk": "Public key (JWK)",
    "jwks_url": "JWKS URL",
    "scope": "Scopes",
    "scopes": "Allowed scopes",
    "url": "Endpoint URL",
    "anonymous": "Anonymous",
    "choices": "Choices",
    "multiple": "Allow several choices",
    "options": "Options",
    "question": "Question",
    "pass_percent": "Pass mark",
    "questions": "Questions",
    "answers": "Answers",
    "credit_hours": "Credit hours",
    "min_minutes": "Minutes of attendance required",
    "course_id": "Course",
    "played": "Played spans",
    "score": "Score",
    "seed": "Random seed",
    "size": "Sample size",
    "verdict": "Verdict",
    "position_s": "Position",
    "specialty": "Specialty",
    "tags": "Tags",
    "back": "Return address",
    "credential": "Device credential",
    "enrolment_code": "Enrolment code",
    "terminal_code": "Terminal code",
    "advice": "Advice",
    "appointment": "Appointment",
    "appointment_at": "Appointment time",
    "care_plan": "Care plan",
    "day": "Date",
    "days": "Days",
    "direction": "Referral direction",
    "dose": "Dose",
    "end": "End time",
    "ends_at": "End time",
    "frequency": "Frequency",
    "items": "Prescription items",
    "slot_id": "Slot",
    "slot_minutes": "Slot minutes",
    "start": "Start time",
    "to_department_id": "Receiving department",
    "to_institution_id": "Receiving institution",
    "urgent": "Urgent case",
    "walk_in_capacity": "Walk-in capacity",
    "frame": "Frame",
    "meeting_id": "Meeting",
    "number": "Patient or record number",
    "points": "Points",
    "sop_uid": "Image (SOP instance UID)",
    "study_uid": "Study instance UID",
    "via": "Pull through",
    "accept": "Answer",
    "address": "Address",
    "alert_id": "Alert",
    "allow_unmute": "Participants may unmute themselves",
    "amend_reason": "Why amend",
    "beds_free": "Free beds",
    "beds_total": "Total beds",
    "birth_on": "Birth date",
    "body": "Content",
    "clear_passcode": "Remove the passcode",
    "code": "Code",
    "comment": "Comment",
    "csrf_token": "Security token",
    "decision": "Decision",
    "department_id": "Department",
    "description": "Description",
    "detail": "Details",
    "diagnoses": "Diagnoses",
    "display_name": "Name shown",
    "document_ids": "Attached documents",
    "due_at": "Due",
    "duration_minutes": "Duration (minutes)",
    "email": "E-mail",
    "expert_ids": "Experts",
    "fever_clinic_capacity": "Fever clinic capacity",
    "fever_clinic_waiting": "Fever clinic waiting",
    "file": "File",
    "files": "Attachments",
    "findings": "Findings",
    "follow_up": "Follow-up",
    "guardian_id": "Guardian",
    "guardian_relation": "Relationship",
    "id_number": "Resident ID number",
    "ids": "Selected items",
    "institution_id": "Institution",
    "invitees": "Invitees",
    "presenters": "Presenters",
    "panelists": "Panelists",
    "audience": "Audience",
    "open_to_staff": "Open to all staff",
    "webrtc_audience_limit": "WebRTC audience limit",
    "kind": "Type",
    "level": "Level",
    "licence_no": "Licence no.",
    "licence_valid_until": "Licence valid until",
    "masks": "Masks",
    "min_title": "Expert's title at least",
    "minutes": "Minutes",
    "name": "Name",
    "name_en": "English name",
    "next": "Next page",
    "note": "Note",
    "observers": "Observers",
    "parent_id": "Parent institution",
    "passcode": "Passcode",
    "password": "Password",
    "patient_id": "Patient",
    "patient_number": "Patient no.",
    "phone": "Mobile phone",
    "photos": "Photos",
    "pool": "Who should answer",
    "purpose": "Purpose",
    "q": "Search",
    "rating": "Rating",
    "reason": "Reason",
    "recommendations": "Recommendations",
    "record_no": "Record no.",
    "region_id": "Region",
    "result": "Result",
    "role": "Role",
    "roles": "Roles",
    "rows": "Rows",
    "sex": "Sex",
    "sign": "Sign the opinion",
    "site_id": "Site",
    "site_ids": "Sites",
    "specialties": "Specialties",
    "starts_at": "Starts at",
    "starts_local": "Starts at",
    "submit": "Submit request",
    "summary": "Case summary",
    "supplies": "Supplies",
    "target_institution_id": "Institution",
    "test_kits": "Test kits",
    "text": "Text",
    "title": "Title",
    "totp_code": "Authenticator code",
    "urgency": "Urgency",
    "user_id": "User",
    "username": "Username",
    "usernames": "Usernames",
    "waiting_room": "Waiting room",
    "years_of_practice": "Years of practice",
}

# A label that differs by form: `Model.field` beats `field`.
MODEL_FIELD_LABELS: dict[str, str] = {
    "CourseCreate.items": "Course items",
    "back": "Return address",
    "credential": "Device credential",
    "enrolment_code": "Enrolment code",
    "terminal_code": "Terminal code",
    "PatientCreate.name": "Full name",
    "PatientUpdate.name": "Full name",
    "StaffCreate.title": "Professional title",
    "StaffUpdate.title": "Professional title",
    "StaffCreate.display_name": "Full name",
    "StaffUpdate.display_name": "Full name",
}

# pydantic error type → sentence; %(field)s is the label, the rest comes from `ctx`.
VALIDATION: dict[str, str] = {
    "missing": "%(field)s is required.",
    "string_too_short": "%(field)s must have at least %(min_length)s characters.",
    "string_too_long": "%(field)s must have at most %(max_length)s characters.",
    "string_type": "%(field)s must be text.",
    "string_pattern_mismatch": "%(field)s is not in the expected format.",
    "int_parsing": "%(field)s must be a whole number.",
    "int_type": "%(field)s must be a whole number.",
    "int_from_float": "%(field)s must be a whole number.",
    "float_parsing": "%(field)s must be a number.",
    "float_type": "%(field)s must be a number.",
    "bool_parsing": "%(field)s must be yes or no.",
    "bool_type": "%(field)s must be yes or no.",
    "greater_than": "%(field)s must be greater than %(gt)s.",
    "greater_than_equal": "%(field)s must be at least %(ge)s.",
    "less_than": "%(field)s must be less than %(lt)s.",
    "less_than_equal": "%(field)s must be at most %(le)s.",
    "enum": "%(field)s must be one of the offered choices.",
    "literal_error": "%(field)s must be one of the offered choices.",
    "date_parsing": "%(field)s must be a date (YYYY-MM-DD).",
    "date_from_datetime_parsing": "%(field)s must be a date (YYYY-MM-DD).",
    "date_from_datetime_inexact": "%(field)s must be a date (YYYY-MM-DD).",
    "date_type": "%(field)s must be a date (YYYY-MM-DD).",
    "datetime_parsing": "%(field)s must be a date and time.",
    "datetime_from_date_parsing": "%(field)s must be a date and time.",
    "datetime_type": "%(field)s must be a date and time.",
    "timezone_aware": "%(field)s needs a time zone offset.",
    "too_short": "%(field)s needs at least %(min_length)s entries.",
    "too_long": "%(field)s may have at most %(max_length)s entries.",
    "list_type": "%(field)s must be a list.",
    "extra_forbidden": "%(field)s is not an accepted field.",
    "json_invalid": "The request body is not valid JSON.",
}
INVALID_FIELD = "%(field)s has an invalid value."
SOME_FIELD = "A value"

# A pattern's meaning in words (pydantic reports only the regular expression).
PATTERNS: dict[str, str] = {
    r"^1[3-9]\d{9}$": "%(field)s must be an 11-digit mobile number starting with 1.",
    r"^[A-Za-z0-9]{4,16}$": "%(field)s must be 4 to 16 letters or digits.",
    r"^[A-Za-z0-9]{6,32}$": "%(field)s must be 6 to 32 letters or digits.",
    r"^[A-Za-z0-9-]{1,32}$": "%(field)s may hold only letters, digits and hyphens.",
    r"^[\w.-]+$": "%(field)s may hold only letters, digits, dots, hyphens and underscores.",
    r"^[a-z0-9_.-]+$": (
        "%(field)s may hold only lower-case letters, digits, dots, hyphens and underscores."
    ),
    EMAIL_PATTERN: ("%(field)s must be an e-mail address."),
    r"^[^\x00-\x1f\x7f]*$": "%(field)s must not contain control characters.",
    r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$": (
        "%(field)s must not be blank or contain control characters."
    ),
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$": "%(field)s must not contain control characters.",
}

# Codes whose sentence is built at run time or shared by many raise sites.
CODE_MESSAGES: dict[str, str] = {
    "fhir.invalid_resource": "The FHIR resource is not valid; see the element named.",
    "teaching.no_file": "There is no such file.",
    "teaching.no_video": "The file holds no video that can be played.",
    "teaching.not_ready": "The video is not ready to play yet.",
    "teaching.never_transcoded": "The video was never prepared for playback; upload it again.",
    "teaching.not_a_video": "This is not a video file. Upload MP4, MOV, WebM or MKV.",
    "teaching.not_owner": "Only the person who uploaded the video or an administrator can do this.",
    "teaching.illegal_transition": "The video cannot do that in its present state.",
    "learning.review_illegal": "The de-identification review does not allow that now.",
    "error": "The request could not be completed.",
    "invalid_input": "Some values are not valid; see the fields marked.",
    "form.invalid": "Some values are not valid; see the fields marked.",
    "not_authenticated": "Please sign in.",
    "permission_denied": "You do not have permission to do this.",
    "not_found": "The page or record was not found.",
    "method_not_allowed": "This address does not accept that kind of request.",
    "too_large": "The upload is too large.",
    "unsupported_media_type": "This type of content is not accepted.",
    "http_error": "The request could not be completed.",
    "conflict": "The change conflicts with stored data; reload and try again.",
    "illegal_transition": "This is not possible in the record's current state.",
    "rate_limited": "Too many attempts; please wait and try again.",
    "upstream_error": "A connected system did not answer; please try again later.",
    "meeting.not_started": "The meeting has not opened yet; you can join from %(opens_at)s.",
    "meeting.ended": "The meeting has ended.",
    "meeting.locked": "The meeting is locked.",
    "meeting.recording_state": "Recording cannot be changed in its current state.",
    "emergency.illegal_transition": "This is not possible in the incident's current state.",
    # the state and the step stay machine-readable in `details`; the sentence names none
    "consult.illegal_transition": "This is not possible in the consultation's current state.",
    "auth.step_up_required": (
        "Confirm it is you with the code from your authenticator app (needed within 10 minutes)."
    ),
    "consult.expert_refused": "The expert cannot be assigned.",
    "surveillance.csv_invalid": "The file has rows that are not valid.",
    "surveillance.fhir_invalid": "The FHIR document is not a valid report.",
    "surveillance.fhir_type": "The FHIR document is not a MeasureReport or a Bundle of them.",
    "surveillance.fhir_empty": "The FHIR document holds no reports.",
    "surveillance.csv_columns": "The file does not have the expected columns.",
    "surveillance.not_allowed": "You may not report counts for this site.",
    "media.bad_sdp": "The browser's media description was not accepted.",
    "media.invalid_offer": "The browser's media description was not accepted.",
    "media.janus_error": "The media server refused the request.",
    "media.janus_timeout": "The media server did not answer in time.",
    "media.unavailable": "The media server is not available.",
    "media.error": "The media server failed.",
    "media.aiortc_incompatible": "The media server is not available.",
    "upload.type_not_allowed": "This type of file is not accepted.",
    "upload.too_large": "The file is too large.",
    "fhir.invalid_search": "The search is not valid.",
    "fhir.not_supported": "This operation is not supported.",
    "fhir.unsupported_type": "This resource type is not supported.",
    "staff.role_not_grantable": "You may not grant this role.",
    "staff.bad_department": "The department does not belong to this institution.",
    "patient.bad_id_number": "The resident ID number is not valid.",
    "meeting.invalid": "The meeting cannot be saved.",
    "meeting.unknown_invitee": "Some invitees are not active staff.",
    "meeting.refused": "The meeting refused the request.",
    "meeting.not_open": "The meeting is not open.",
    "meeting.removed": "You were removed from this meeting.",
    "meeting.recording_active": "A recording is already running",
    "meeting.not_joined": "Join the meeting before sharing a screen.",
    "meeting.screen_busy": "Someone else is sharing a screen.",
    "recording.not_ready": "The recording is not ready yet.",
    "media.recording_active": "A recording is already running",
    "media.no_media": "The browser's media description was not accepted.",
    "media.no_fingerprint": "The browser's media description was not accepted.",
    "media.insecure": "The browser's media description was not accepted.",
    "media.no_bundle": "The browser's media description was not accepted.",
    "media.no_offer": "The media connection is out of step; it will start again.",
    "media.bad_candidate": "A network address from the browser was not accepted.",
    "ops.unknown": "This device credential or enrolment code is not known.",
    "ops.revoked": "This device credential was revoked; enrol the terminal again.",
    "ops.replayed": "This was already received; a device cannot send it again.",
    "ops.expired": "The enrolment code has expired; ask for a new one.",
    "ops.flood": "Too many heartbeats from this device; it must slow down.",
    "ops.enrol_limited": "Too many enrolment attempts; please wait and try again.",
    "ops.alarm_not_found": "The alarm was not found.",
    "ops.terminal_not_found": "The terminal was not found.",
    "ops.illegal_transition": "This is not possible in the alarm's current state.",
    "ops.alarm_denied": "Only operations can handle alarms.",
}


def label(locale: str, field: str, model: str = "") -> str:
    """The field's label as users see it (a generic word when it has none)."""
    text = MODEL_FIELD_LABELS.get(f"{model}.{field}") or FIELD_LABELS.get(field, SOME_FIELD)
    return i18n.gettext(locale, text)


def is_sentence(message: str) -> bool:
    """Whether the catalogue knows this English sentence (so it can be translated)."""
    zh = i18n.translations(i18n.DEFAULT_LOCALE)
    return bool(message) and zh.gettext(message) != message


def _local(value: Any) -> Any:
    if isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value).astimezone(DISTRICT_TZ).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def _fill(template: str, values: dict[str, Any]) -> str:
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return template.split("%(")[0].strip() or template


def domain_message(locale: str, code: str, message: str, details: dict[str, Any]) -> str:
    """A domain error's sentence: its own when translatable, else its code's."""
    if is_sentence(message):
        return i18n.gettext(locale, message)
    sentence = CODE_MESSAGES.get(code) or CODE_MESSAGES.get(code.rsplit(".", 1)[-1])
    if sentence is None:
        return i18n.gettext(locale, CODE_MESSAGES["error"])
    values = {k: _local(v) for k, v in details.items() if isinstance(v, str | int | float)}
    return _fill(i18n.gettext(locale, sentence), values)


def field_name(loc: list[Any]) -> str:
    """The submitted field an error location points at (`body.invitees.3` → `invitees`)."""
    names = [str(p) for p in loc if isinstance(p, str)]
    names = [n for n in names if n not in ("body", "query", "path", "header", "cookie")]
    return names[-1] if names else ""


def validation_message(locale: str, error: dict[str, Any]) -> str:
    """One pydantic error as a sentence naming the field by its label."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    field = label(locale, field_name(list(error.get("loc", ()))), str(error.get("model", "")))
    if kind in ("value_error", "assertion_error"):
        reason = str(ctx.get("error", ""))
        if is_sentence(reason):
            return i18n.gettext(locale, reason)
        return _fill(i18n.gettext(locale, INVALID_FIELD), {"field": field})
    template = VALIDATION.get(kind, INVALID_FIELD)
    if kind == "string_pattern_mismatch":
        template = PATTERNS.get(str(ctx.get("pattern", "")), template)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        template = "%(field)s is required."
    values = {k: v for k, v in ctx.items() if isinstance(v, str | int | float)}
    return _fill(i18n.gettext(locale, template), values | {"field": field})


def clean_validation(errors: list[Any], model: str = "") -> list[dict[str, Any]]:
    """Field errors without the submitted values (they may be identifiers)."""
    cleaned = []
    for e in errors:
        ctx = {
            k: (v if isinstance(v, int | float) else str(v))
            for k, v in (e.get("ctx") or {}).items()
        }
        cleaned.append(
            {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())]}
            | {"type": str(e.get("type", ""))}
            | ({"ctx": ctx} if ctx else {})
            | ({"model": model} if model else {})
        )
    return cleaned


def localise_details(locale: str, details: dict[str, Any]) -> dict[str, Any]:
    """Details with a translated `message` and `field` on every field error."""
    out = dict(details)
    errors = []
    for e in details.get("errors") or []:
        if not isinstance(e, dict):
            continue
        item = dict(e)
        if "type" in e and "loc" in e:  # pydantic
            item["field"] = field_name(list(e["loc"]))
            item.setdefault("code", e["type"])
            item["message"] = validation_message(locale, e)
            item.pop("msg", None)
        elif "message" in e:  # a domain problem naming its field
            item["message"] = domain_message(
                locale, str(e.get("code", "")), str(e["message"]), item
            )
        errors.append(item)
    if errors:
        out["errors"] = errors
    return out
