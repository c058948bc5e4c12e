"""Every string shown to users has a Simplified Chinese translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from yiyun import i18n
from yiyun.org import enums as org_enums
from yiyun.records import enums as records_enums
from yiyun.web import pagekit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "yiyun"
ERRORS = re.compile(
    r"(?:InvalidInput|NotFound|Conflict|PermissionDenied|NotAuthenticated|RateLimited|"
    r"IllegalTransition|Upstream)\(\s*\"([^\"]+)\"",
)


def _catalogue(locale: str) -> dict[str, str]:
    path = SRC / "i18n" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def _extracted() -> set[str]:
    method_map = [("web/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(SRC), method_map, options, keywords={"_": None, "gettext": None, "Text": None}
    ):
        if isinstance(message, str) and message:
            found.add(message)
    return found


def _error_messages() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        found.update(ERRORS.findall(path.read_text(encoding="utf-8")))
    return {m for m in found if "{" not in m}


def _labels() -> set[str]:
    values: set[str] = set()
    for enum in (
        org_enums.InstitutionLevel,
        org_enums.StaffTitle,
        org_enums.TerminalKind,
        org_enums.TerminalStatus,
        records_enums.Sex,
        records_enums.DocumentKind,
        records_enums.ConsentPurpose,
        records_enums.GuardianRelation,
    ):
        values.update(member.value for member in enum)
    values.update(
        pagekit.ROLE_LABELS.values(), pagekit.KIND_LABELS.values(), pagekit.FLASH.values()
    )
    return values


@pytest.mark.parametrize("source", ["templates and code", "error messages", "labels"])
def test_every_user_facing_string_has_a_chinese_translation(source: str) -> None:
    wanted = {
        "templates and code": _extracted,
        "error messages": _error_messages,
        "labels": _labels,
    }[source]()
    zh = _catalogue("zh_CN")
    missing = sorted(m for m in wanted if not zh.get(m))
    assert missing == []


def test_the_default_language_is_simplified_chinese() -> None:
    assert i18n.DEFAULT_LOCALE == "zh_CN"
    assert i18n.gettext("zh_CN", "Sign in") == "登录"
    assert i18n.gettext("en", "Sign in") == "Sign in"


def test_placeholders_survive_translation() -> None:
    for msgid, msgstr in _catalogue("zh_CN").items():
        placeholders = sorted(re.findall(r"%\(\w+\)s", msgid))
        assert sorted(re.findall(r"%\(\w+\)s", msgstr)) == placeholders, msgid
