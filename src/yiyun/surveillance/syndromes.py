"""Syndrome definitions and the classifier that turns encounters into syndrome counts.

A syndrome matches an encounter when one of its ICD-10 code prefixes matches a
diagnosis code, or when one of its chief-complaint keywords (Chinese or English) occurs
un-negated and every syndrome it `requires` matches too (influenza-like illness is fever
with cough or sore throat, China's ILI case definition). Syndromes overlap on purpose:
"发热伴咳嗽" counts as fever, ILI and acute respiratory infection.

Negation follows the NegEx idea at clause level: a keyword preceded in its clause by a
cue (无, 否认, 未, "no", "denies"...) does not count, so "咳嗽3天，无发热" is not fever.
Pseudo-negations such as "无明显诱因" (without apparent cause) are removed first.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.surveillance.models import Syndrome


@dataclass(frozen=True)
class SyndromeDef:
    code: str
    name: str
    name_en: str
    icd10_prefixes: tuple[str, ...] = ()
    keywords_zh: tuple[str, ...] = ()
    keywords_en: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    builtin: bool = False


_FEVER_ZH = ("发热", "发烧", "高热", "低热", "高烧", "体温升高")
_FEVER_EN = ("fever", "febrile", "pyrexia", "high temperature")

BUILTIN: tuple[SyndromeDef, ...] = (
    SyndromeDef("fever", "发热", "Fever", ("R50",), _FEVER_ZH, _FEVER_EN, builtin=True),
    SyndromeDef(
        "ili",
        "流感样病例",
        "Influenza-like illness",
        ("J09", "J10", "J11"),
        ("咳嗽", "咽痛", "咽喉痛", "喉咙痛", "嗓子痛", "流感"),
        ("cough", "sore throat", "influenza", "flu"),
        requires=("fever",),
        builtin=True,
    ),
    SyndromeDef(
        "diarrhoea",
        "急性腹泻",
        "Acute diarrhoea",
        ("A0", "K529", "R197"),
        ("腹泻", "拉肚子", "稀便", "水样便", "稀水便", "水泻", "大便次数增多"),
        ("diarrhoea", "diarrhea", "loose stool", "loose stools", "watery stool"),
        builtin=True,
    ),
    SyndromeDef(
        "rash_fever",
        "发热伴出疹",
        "Rash with fever",
        ("B01", "B05", "B06", "B082", "B09", "A38"),
        ("皮疹", "出疹", "疹子", "红疹", "斑丘疹", "疱疹"),
        ("rash", "exanthem", "exanthema"),
        requires=("fever",),
        builtin=True,
    ),
    SyndromeDef(
        "ari",
        "急性呼吸道感染",
        "Acute respiratory infection",
        ("J0", "J1", "J20", "J21", "J22"),
        ("咳嗽", "咳痰", "咽痛", "咽喉痛", "流涕", "流鼻涕", "鼻塞", "气促", "气喘", "呼吸困难"),
        (
            "cough",
            "sore throat",
            "runny nose",
            "rhinorrhoea",
            "nasal congestion",
            "dyspnoea",
            "dyspnea",
            "shortness of breath",
        ),
        builtin=True,
    ),
    SyndromeDef(
        "hfmd",
        "手足口病",
        "Hand, foot and mouth disease",
        ("B084",),
        ("手足口",),
        ("hand foot and mouth", "hand foot mouth", "hfmd"),
        builtin=True,
    ),
)
BUILTIN_CODES = tuple(d.code for d in BUILTIN)

_NEG_ZH = ("否认", "没有", "不伴", "未见", "未诉", "无", "未")
_PSEUDO_ZH = ("无明显诱因", "无明显原因", "无诱因", "未经治疗", "未予治疗", "未就诊", "未治疗")
_NEG_EN = re.compile(r"\b(?:no|not|denies|denied|without|negative for)\b")
_CLAUSE = re.compile(r"[，,。.;；!！?？\n:：]|但是|但|\bbut\b")
_TEMPERATURE = re.compile(
    r"(?:(?:体温|\bt)\s*[:=]?\s*(\d{2}(?:\.\d+)?))|(?:(\d{2}(?:\.\d+)?)\s*(?:°c|℃|度))"
)
FEVER = "fever"  # also matched by a measured temperature in the complaint
FEVER_FROM = 37.3  # °C: China's threshold for a fever (axillary)


def normalise_icd10(code: str) -> str:
    """`j10.1` → `J101`; dagger/asterisk marks and spaces dropped."""
    return re.sub(r"[^A-Z0-9]", "", code.upper())


def _normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return text.replace("-", " ").replace("/", " ")


@dataclass
class _Text:
    """A complaint cut into clauses, pseudo-negations removed, for repeated keyword tests."""

    clauses: list[str]
    cache: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, complaint: str) -> _Text:
        text = _normalise_text(complaint)
        for pseudo in _PSEUDO_ZH:
            text = text.replace(pseudo, " ")
        return cls([c for c in _CLAUSE.split(text) if c.strip()])

    def has(self, keyword: str) -> bool:
        """True when the keyword occurs un-negated in some clause."""
        if keyword not in self.cache:
            self.cache[keyword] = any(_affirmed(c, keyword) for c in self.clauses)
        return self.cache[keyword]

    def feverish(self) -> bool:
        if "temperature" not in self.cache:
            self.cache["temperature"] = any(_measured_fever(c) for c in self.clauses)
        return self.cache["temperature"]


def _affirmed(clause: str, keyword: str) -> bool:
    ascii_kw = keyword.isascii()
    if ascii_kw:
        kw = " ".join(_normalise_text(keyword).split())
        squeezed = " ".join(re.sub(r"[^\w]+", " ", clause).split())
        positions = [m.start() for m in re.finditer(rf"\b{re.escape(kw)}\b", squeezed)]
        clause = squeezed
    else:
        positions = [m.start() for m in re.finditer(re.escape(keyword), clause)]
    for pos in positions:
        before = clause[:pos]
        if not (any(cue in before for cue in _NEG_ZH) or _NEG_EN.search(before)):
            return True
    return False


def _measured_fever(clause: str) -> bool:
    for match in _TEMPERATURE.finditer(clause):
        value = float(match.group(1) or match.group(2))
        before = clause[: match.start()]
        if FEVER_FROM <= value <= 43.0 and not any(cue in before for cue in _NEG_ZH):
            return True
    return False


def classify(
    icd10_codes: Iterable[str],
    chief_complaint: str,
    definitions: Sequence[SyndromeDef] = BUILTIN,
) -> set[str]:
    """The codes of every syndrome the encounter matches (pure; see the module docstring)."""
    codes = [normalise_icd10(c) for c in icd10_codes if c and c.strip()]
    text = _Text.of(chief_complaint or "")
    by_code = {d.code: d for d in definitions}
    memo: dict[str, bool] = {}

    def matches(code: str, seen: frozenset[str]) -> bool:
        if code in memo:
            return memo[code]
        d = by_code.get(code)
        if d is None or code in seen:  # unknown or circular requirement
            return False
        found = any(c.startswith(p) for c in codes for p in d.icd10_prefixes)
        if not found:
            keyword = any(text.has(k) for k in (*d.keywords_zh, *d.keywords_en)) or (
                d.code == FEVER and text.feverish()
            )
            found = keyword and all(matches(r, seen | {code}) for r in d.requires)
        memo[code] = found
        return found

    return {d.code for d in definitions if matches(d.code, frozenset())}


@dataclass(frozen=True)
class Encounter:
    """What the classifier needs of an outpatient visit or a consultation."""

    site_id: int
    on: date
    icd10_codes: Sequence[str]
    complaint: str


def derive_counts(
    encounters: Iterable[Encounter], definitions: Sequence[SyndromeDef] = BUILTIN
) -> Mapping[tuple[int, str, date], int]:
    """Cases per (site id, syndrome code, day), ready for `ingest.store_derived`."""
    counts: Counter[tuple[int, str, date]] = Counter()
    for enc in encounters:
        for code in classify(enc.icd10_codes, enc.complaint, definitions):
            counts[(enc.site_id, code, enc.on)] += 1
    return counts


# --- stored definitions -----------------------------------------------------------------------


def from_row(row: Syndrome) -> SyndromeDef:
    return SyndromeDef(
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        icd10_prefixes=tuple(normalise_icd10(p) for p in row.icd10_prefixes),
        keywords_zh=tuple(row.keywords_zh),
        keywords_en=tuple(row.keywords_en),
        requires=tuple(row.requires),
        builtin=row.builtin,
    )


async def ensure_builtin(session: AsyncSession) -> int:
    """Insert the built-in definitions that are missing (never overwrites edits)."""
    present = set((await session.scalars(select(Syndrome.code))).all())
    missing = [d for d in BUILTIN if d.code not in present]
    if not missing:
        return 0
    rows = [
        Syndrome(
            code=d.code,
            name=d.name,
            name_en=d.name_en,
            icd10_prefixes=list(d.icd10_prefixes),
            keywords_zh=list(d.keywords_zh),
            keywords_en=list(d.keywords_en),
            requires=list(d.requires),
            builtin=True,
            active=True,
        )
        for d in missing
    ]
    try:
        async with session.begin_nested():  # two first requests at once: one of them wins
            session.add_all(rows)
    except IntegrityError:
        return 0
    return len(rows)


async def load_definitions(session: AsyncSession, *, active_only: bool = True) -> list[SyndromeDef]:
    """The stored definitions (built-in ones created on first use), by code."""
    await ensure_builtin(session)
    query = select(Syndrome).order_by(Syndrome.id)
    if active_only:
        query = query.where(Syndrome.active.is_(True))
    return [from_row(r) for r in (await session.scalars(query)).all()]


async def upsert_definition(session: AsyncSession, definition: SyndromeDef) -> Syndrome:
    """Add or change a configurable syndrome (built-in ones keep their `builtin` flag)."""
    await ensure_builtin(session)
    code = definition.code.strip().lower()  # reports are matched in lower case
    row = await session.scalar(select(Syndrome).where(Syndrome.code == code))
    if row is None:
        row = Syndrome(code=code, builtin=False, active=True)
        session.add(row)
    row.name, row.name_en = definition.name, definition.name_en
    row.icd10_prefixes = [normalise_icd10(p) for p in definition.icd10_prefixes]
    row.keywords_zh, row.keywords_en = list(definition.keywords_zh), list(definition.keywords_en)
    row.requires = list(definition.requires)
    await session.flush()
    return row
