"""Every string shown to users has a Simplified Chinese translation."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from yiyun import i18n
from yiyun.audit import actions as audit_actions
from yiyun.clinics import workflow as clinics_workflow
from yiyun.consult import workflow as consult_workflow
from yiyun.emergency import workflow as emergency_workflow
from yiyun.inquiry import workflow as inquiry_workflow
from yiyun.learning import workflow as learning_workflow
from yiyun.media import signaling
from yiyun.meetings import recording as meetings_recording
from yiyun.meetings import workflow as meetings_workflow
from yiyun.ops import workflow as ops_workflow
from yiyun.org import enums as org_enums
from yiyun.records import enums as records_enums
from yiyun.referrals import workflow as referrals_workflow
from yiyun.settings import Settings
from yiyun.surveillance import workflow as surveillance_workflow
from yiyun.teaching import workflow as teaching_workflow
from yiyun.web import messages, pagekit
from yiyun.web.app import create_app

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


# A form problem reported with others (`Problems.add(field, message, code)`).
PROBLEMS = re.compile(r"problems\.add\(\s*(?:\w+|\"\w+\"),\s*\"([^\"]+)\"")


def _error_messages() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found.update(ERRORS.findall(text))
        found.update(PROBLEMS.findall(text))
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


# --- error messages, field labels and audit actions, collected from the code ------------


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """Names of every `YiyunError` subclass, core and domain."""
    names = {"YiyunError"}
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {
                        b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                        for b in node.bases
                    }
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in SRC.rglob("*.py")}


def _assigned_strings(tree: ast.Module) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found.setdefault(target.id, set()).add(node.value.value)
    return found


def _raise_sites() -> list[tuple[str, str | None, set[str]]]:
    """(where, code, literal messages) for every construction of a domain error."""
    trees = _trees()
    classes = _error_classes(list(trees.values()))
    defaults: dict[str, str] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in classes:
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.value, ast.Constant)
                        and any(isinstance(t, ast.Name) and t.id == "code" for t in stmt.targets)
                    ):
                        defaults[node.name] = str(stmt.value.value)
    sites = []
    for path, tree in trees.items():
        assigned = _assigned_strings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in classes or node.func.id == "YiyunError":
                continue
            code = defaults.get(node.func.id, "error")
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                    code = str(kw.value.value)
            literals: set[str] = set()
            if node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    literals = {first.value}
                elif isinstance(first, ast.Name):
                    literals = assigned.get(first.id, set())
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            sites.append((where, code, literals))
    return sites


def test_every_domain_error_reads_as_a_translated_sentence() -> None:
    """A literal message is in both catalogues; a built one is told by its code's sentence."""
    zh, en = _catalogue("zh_CN"), _catalogue_ids("en")
    untold = []
    for where, code, literals in _raise_sites():
        if literals and all(zh.get(m) and m in en for m in literals):
            continue
        sentence = messages.CODE_MESSAGES.get(code or "") or messages.CODE_MESSAGES.get(
            (code or "").rsplit(".", 1)[-1]
        )
        if not (sentence and zh.get(sentence) and sentence in en):
            untold.append(f"{where} {code} {sorted(literals)}")
    assert untold == []


def _catalogue_ids(locale: str) -> set[str]:
    path = SRC / "i18n" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return {str(m.id) for m in read_po(fh) if m.id}


def test_validation_sentences_patterns_and_field_labels_are_translated() -> None:
    zh, en = _catalogue("zh_CN"), _catalogue_ids("en")
    wanted = (
        set(messages.VALIDATION.values())
        | set(messages.PATTERNS.values())
        | set(messages.FIELD_LABELS.values())
        | set(messages.MODEL_FIELD_LABELS.values())
        | set(messages.CODE_MESSAGES.values())
        | {messages.INVALID_FIELD, messages.SOME_FIELD}
    )
    assert sorted(m for m in wanted if not zh.get(m) or m not in en) == []
    for message in wanted:  # Chinese sentences keep the placeholders the code fills
        assert sorted(re.findall(r"%\(\w+\)s", zh[message])) == sorted(
            re.findall(r"%\(\w+\)s", message)
        ), message


def _input_fields() -> set[str]:
    """Every field a person or client submits: form parameters and request bodies."""
    names: set[str] = set()
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg in node.args.args + node.args.kwonlyargs:
                    note = ast.unparse(arg.annotation) if arg.annotation else ""
                    if "Form(" in note or "File(" in note:
                        names.add(arg.arg)
    app = create_app(Settings(), configure_logs=False)
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    for path in spec["paths"].values():
        for op in path.values():
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref:
                    names.update(schemas[ref.rsplit("/", 1)[-1]].get("properties", {}))
    return names - {"csrf_token"}


def test_every_submitted_field_has_a_label() -> None:
    unlabelled = sorted(n for n in _input_fields() if n not in messages.FIELD_LABELS)
    assert unlabelled == []


AUDIT_LITERAL = re.compile(
    r"(?:action=|_audit\([^\"\n]*|_audit_system\(\w+, |guest_action\([^\"\n]*"
    r"|record\(session, ctx, )"
    r"\"([a-z_]+\.[a-z_.]+)\""
)


def _audit_actions() -> set[str]:
    """Audit actions the code records: literals, and the tables that build the rest."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found.update(AUDIT_LITERAL.findall(text))
        found.update(
            re.findall(r"action=\"[a-z_.]+\" if [^\n]* else \"([a-z_]+\.[a-z_.]+)\"", text)
        )
    found.update(f"meeting.{a}" for a in get_args(signaling.ControlAction))
    for machine in (
        meetings_workflow.MACHINE,
        meetings_recording.MACHINE,
        emergency_workflow.INCIDENT,
        emergency_workflow.TASK,
        surveillance_workflow.MACHINE,
        teaching_workflow.MACHINE,
        learning_workflow.MACHINE,
        ops_workflow.MACHINE,
        clinics_workflow.SESSION,
        clinics_workflow.VISIT,
        clinics_workflow.PRESCRIPTION,
        referrals_workflow.MACHINE,
        inquiry_workflow.MACHINE,
        consult_workflow.MACHINE,
    ):
        found.update(f"{machine.audit_prefix}.{a}" for a in machine.actions)
    found.update(f"surveillance.alert.{a.value}" for a in surveillance_workflow.AlertAction)
    found.update(f"surveillance.alert.{a}" for a in get_args(surveillance_workflow.DetectionAction))
    return found


def test_every_audit_action_has_a_translated_label() -> None:
    zh, en = _catalogue("zh_CN"), _catalogue_ids("en")
    actions = _audit_actions()
    assert {"patient.read", "auth.login", "meeting.mute_all"} <= actions  # the collector works
    assert sorted(a for a in actions if a not in audit_actions.LABELS) == []
    labels = set(audit_actions.LABELS.values()) | {audit_actions.UNKNOWN}
    assert sorted(m for m in labels if not zh.get(m) or m not in en) == []


# Words that were mistranslated once and came back through a catalogue merge: a document's
# or a meeting's title is not a professional rank, and a person's name is not a thing's.
SETTLED = {
    "Title": "标题",
    "Professional title": "职称",
    "Full name": "姓名",
}


@pytest.mark.parametrize("msgid", sorted(SETTLED))
def test_words_with_a_settled_chinese_translation_keep_it(msgid: str) -> None:
    assert _catalogue("zh_CN")[msgid] == SETTLED[msgid]
