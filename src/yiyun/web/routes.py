"""The one file that mounts every router."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from yiyun.audit import api as audit_api
from yiyun.audit import pages as audit_pages
from yiyun.auth import api as auth_api
from yiyun.auth import pages as auth_pages
from yiyun.clinics import api as clinics_api
from yiyun.clinics import pages as clinics_pages
from yiyun.collab import api as collab_api
from yiyun.collab import pages as collab_pages
from yiyun.consult import api as consult_api
from yiyun.consult import calendar_pages as consult_calendar_pages
from yiyun.consult import casework_pages as consult_casework_pages
from yiyun.consult import pages as consult_pages
from yiyun.emergency import api as emergency_api
from yiyun.emergency import pages as emergency_pages
from yiyun.imaging import api as imaging_api
from yiyun.imaging import pages as imaging_pages
from yiyun.inquiry import pages as inquiry_pages
from yiyun.learning import api as learning_api
from yiyun.learning import pages as learning_pages
from yiyun.meetings import api as meetings_api
from yiyun.meetings import engage_api as meetings_engage_api
from yiyun.meetings import guest_pages as meetings_guest_pages
from yiyun.meetings import live_api as meetings_live_api
from yiyun.meetings import pages as meetings_pages
from yiyun.meetings import quality_pages as meetings_quality_pages
from yiyun.meetings import recording_pages as meetings_recording_pages
from yiyun.meetings import schedule_pages as meetings_schedule_pages
from yiyun.meetings import selftest as meetings_selftest
from yiyun.notify import api as notify_api
from yiyun.notify import pages as notify_pages
from yiyun.ops import api as ops_api
from yiyun.ops import kiosk_pages as ops_kiosk_pages
from yiyun.ops import pages as ops_pages
from yiyun.org import api as org_api
from yiyun.org import pages as org_pages
from yiyun.partners import api as partners_api
from yiyun.partners import pages as partners_pages
from yiyun.records import api as records_api
from yiyun.records import pages as records_pages
from yiyun.referrals import api as referrals_api
from yiyun.referrals import pages as referrals_pages
from yiyun.resident import pages as resident_pages
from yiyun.stats import api as stats_api
from yiyun.stats import pages as stats_pages
from yiyun.supervision import api as supervision_api
from yiyun.supervision import pages as supervision_pages
from yiyun.surveillance import api as surveillance_api
from yiyun.teaching import api as teaching_api
from yiyun.teaching import lecture_api, lecture_pages
from yiyun.teaching import pages as teaching_pages
from yiyun.web import apidocs, home, ops
from yiyun.web.dicomweb import router as dicomweb_router
from yiyun.web.fhir import clinical as fhir_clinical
from yiyun.web.fhir import consult as fhir_consult
from yiyun.web.fhir import router as fhir_router
from yiyun.web.fhir import write as fhir_write
from yiyun.web.routeindex import index_routers
from yiyun.web.ws import signal as ws_signal

API = "/api/v1"


_included: list[BaseRoute] = []


def mount(app: FastAPI) -> None:
    """Give the app every router, in order.

    The routers are included once per process into a holder and the same included
    routers are then handed to every app: FastAPI builds an included router's routes
    (their dependency graphs, ~4 ms a route) on first use and keeps them on the included
    router, so a second app in the process (a test's, a worker's) does not pay again.
    Nothing here depends on the app. The cost of sharing: `app.dependency_overrides` is
    not consulted by these routes (nothing in Yiyun uses it).
    """
    if not _included:
        holder = APIRouter()
        _include_all(holder)
        index_routers(holder)  # last: every router is known
        _included.extend(holder.routes)
    app.router.routes.extend(_included)
    app.router._mark_routes_changed()


def _include_all(app: APIRouter) -> None:
    app.include_router(ops.router)
    app.include_router(apidocs.router)
    app.include_router(auth_api.router, prefix=API, tags=["auth"])
    app.include_router(org_api.router, prefix=API, tags=["consortium"])
    app.include_router(records_api.router, prefix=API, tags=["patients"])
    app.include_router(audit_api.router, prefix=API, tags=["audit"])
    app.include_router(meetings_api.router, prefix=API, tags=["meetings"])
    app.include_router(meetings_live_api.router, prefix=API, tags=["meetings"])
    app.include_router(meetings_engage_api.router, prefix=API, tags=["meetings"])
    app.include_router(meetings_selftest.api_router, prefix=API, tags=["self-test"])
    app.include_router(notify_api.router, prefix=API, tags=["notifications"])
    app.include_router(emergency_api.router, prefix=API, tags=["emergency"])
    app.include_router(consult_api.router, prefix=API, tags=["consultations"])
    app.include_router(surveillance_api.router, prefix=API, tags=["surveillance"])
    app.include_router(teaching_api.router, prefix=API, tags=["teaching"])
    app.include_router(learning_api.router, prefix=API, tags=["learning"])
    app.include_router(lecture_api.router, prefix=API, tags=["teaching"])
    app.include_router(stats_api.router, prefix=API, tags=["statistics"])
    app.include_router(supervision_api.router, prefix=API, tags=["supervision"])
    app.include_router(ops_api.router, prefix=API, tags=["operations"])
    app.include_router(clinics_api.router, prefix=API, tags=["clinics"])
    app.include_router(referrals_api.router, prefix=API, tags=["referrals"])
    app.include_router(partners_api.router, tags=["partners"])
    app.include_router(fhir_write.router, prefix="/fhir/r4", tags=["fhir"])
    app.include_router(fhir_clinical.router, prefix="/fhir/r4", tags=["fhir"])
    app.include_router(fhir_consult.router, prefix="/fhir/r4", tags=["fhir"])
    app.include_router(imaging_api.router, prefix=API, tags=["imaging"])
    app.include_router(fhir_router.router, prefix="/fhir/r4", tags=["fhir"])
    app.include_router(dicomweb_router.router, prefix="/dicomweb", tags=["dicomweb"])
    app.include_router(auth_pages.router, include_in_schema=False)
    app.include_router(home.router, include_in_schema=False)
    app.include_router(org_pages.router, include_in_schema=False)
    app.include_router(records_pages.router, include_in_schema=False)
    app.include_router(audit_pages.router, include_in_schema=False)
    app.include_router(meetings_pages.router, include_in_schema=False)
    app.include_router(meetings_schedule_pages.router, include_in_schema=False)
    app.include_router(meetings_guest_pages.router, include_in_schema=False)
    app.include_router(meetings_recording_pages.router, include_in_schema=False)
    app.include_router(meetings_quality_pages.router, include_in_schema=False)
    app.include_router(meetings_selftest.router, include_in_schema=False)
    app.include_router(notify_pages.router, include_in_schema=False)
    app.include_router(emergency_pages.router, include_in_schema=False)
    app.include_router(teaching_pages.router, include_in_schema=False)
    app.include_router(learning_pages.router, include_in_schema=False)
    app.include_router(lecture_pages.router, include_in_schema=False)
    app.include_router(collab_pages.router, include_in_schema=False)
    app.include_router(stats_pages.router, include_in_schema=False)
    app.include_router(supervision_pages.router, include_in_schema=False)
    app.include_router(clinics_pages.router, include_in_schema=False)
    app.include_router(referrals_pages.router, include_in_schema=False)
    app.include_router(inquiry_pages.router, include_in_schema=False)
    app.include_router(resident_pages.router, include_in_schema=False)
    app.include_router(consult_calendar_pages.router, include_in_schema=False)  # before {id}
    app.include_router(consult_pages.router, include_in_schema=False)
    app.include_router(partners_pages.router, include_in_schema=False)
    app.include_router(consult_casework_pages.router, include_in_schema=False)
    app.include_router(ws_signal.router)
    app.include_router(notify_api.ws_router)
    app.include_router(collab_api.router)
    app.include_router(ops_pages.router, include_in_schema=False)
    app.include_router(ops_kiosk_pages.router, include_in_schema=False)
    app.include_router(ops_kiosk_pages.ws_router)
    app.include_router(imaging_pages.router, include_in_schema=False)
    app.include_router(imaging_api.ws_router)
