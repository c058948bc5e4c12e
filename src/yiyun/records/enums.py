"""Enumerations of patient records."""

from __future__ import annotations

from enum import StrEnum


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class DocumentKind(StrEnum):
    SUMMARY = "summary"
    LAB_RESULT = "lab_result"
    ATTACHMENT = "attachment"
    OPINION = "opinion"  # a doctor's signed consultation opinion


class ConsentPurpose(StrEnum):
    TELEMEDICINE = "telemedicine"
    RECORDING = "recording"
    SHARING = "sharing"
    # A de-identified recording of the patient's meeting may be used for teaching.
    TEACHING = "teaching"


class GuardianRelation(StrEnum):
    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    OTHER = "other"
