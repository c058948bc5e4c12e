"""The specialty vocabulary shared by departments, staff and requests.

A subset of the national list of clinical subjects (医疗机构诊疗科目名录, 卫医发〔1994〕27号
and its amendments): a two-level code, `03` 内科 and `03.04` 心血管内科专业. Data, not a
table: every institution uses the same list, and other domains refer to a specialty by
its code (`User.specialties` holds codes; a department's code maps to one).

`matches(wanted, held)`: a wanted `03` is met by `03.04` (a sub-specialty of internal
medicine), a wanted `03.04` only by `03.04`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yiyun.core.errors import InvalidInput
from yiyun.org.enums import StaffTitle


@dataclass(frozen=True)
class Specialty:
    code: str
    name: str  # Chinese, as in the national list
    name_en: str

    @property
    def parent(self) -> str | None:
        return self.code.split(".", 1)[0] if "." in self.code else None

    def label(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name


# fmt: off
SPECIALTIES: tuple[Specialty, ...] = (
    Specialty("01", "预防保健科", "Preventive care"),
    Specialty("02", "全科医疗科", "General practice"),
    Specialty("03", "内科", "Internal medicine"),
    Specialty("03.01", "呼吸内科专业", "Respiratory medicine"),
    Specialty("03.02", "消化内科专业", "Gastroenterology"),
    Specialty("03.03", "神经内科专业", "Neurology"),
    Specialty("03.04", "心血管内科专业", "Cardiology"),
    Specialty("03.05", "血液内科专业", "Haematology"),
    Specialty("03.06", "肾病学专业", "Nephrology"),
    Specialty("03.07", "内分泌专业", "Endocrinology"),
    Specialty("03.10", "老年病专业", "Geriatrics"),
    Specialty("04", "外科", "Surgery"),
    Specialty("04.01", "普通外科专业", "General surgery"),
    Specialty("04.02", "神经外科专业", "Neurosurgery"),
    Specialty("04.03", "骨科专业", "Orthopaedics"),
    Specialty("04.04", "泌尿外科专业", "Urology"),
    Specialty("04.05", "胸外科专业", "Thoracic surgery"),
    Specialty("04.06", "心脏大血管外科专业", "Cardiac and great-vessel surgery"),
    Specialty("05", "妇产科", "Obstetrics and gynaecology"),
    Specialty("05.01", "妇科专业", "Gynaecology"),
    Specialty("05.02", "产科专业", "Obstetrics"),
    Specialty("06", "妇女保健科", "Women's health"),
    Specialty("07", "儿科", "Paediatrics"),
    Specialty("07.01", "新生儿专业", "Neonatology"),
    Specialty("08", "小儿外科", "Paediatric surgery"),
    Specialty("09", "儿童保健科", "Child health"),
    Specialty("10", "眼科", "Ophthalmology"),
    Specialty("11", "耳鼻咽喉科", "Otorhinolaryngology"),
    Specialty("12", "口腔科", "Stomatology"),
    Specialty("13", "皮肤科", "Dermatology"),
    Specialty("15", "精神科", "Psychiatry"),
    Specialty("16", "传染科", "Infectious diseases"),
    Specialty("19", "肿瘤科", "Oncology"),
    Specialty("20", "急诊医学科", "Emergency medicine"),
    Specialty("21", "康复医学科", "Rehabilitation medicine"),
    Specialty("26", "麻醉科", "Anaesthesiology"),
    Specialty("28", "重症医学科", "Critical care medicine"),
    Specialty("30", "医学检验科", "Clinical laboratory"),
    Specialty("31", "病理科", "Pathology"),
    Specialty("32", "医学影像科", "Medical imaging"),
    Specialty("32.01", "X线诊断专业", "X-ray diagnosis"),
    Specialty("32.02", "CT诊断专业", "CT diagnosis"),
    Specialty("32.03", "磁共振成像诊断专业", "MRI diagnosis"),
    Specialty("32.05", "超声诊断专业", "Ultrasound diagnosis"),
    Specialty("32.06", "心电诊断专业", "ECG diagnosis"),
    Specialty("50", "中医科", "Traditional Chinese medicine"),
    Specialty("50.01", "内科专业", "TCM internal medicine"),
    Specialty("50.13", "针灸科专业", "Acupuncture"),
    Specialty("50.14", "推拿科专业", "Tuina"),
)
# fmt: on
BY_CODE: dict[str, Specialty] = {s.code: s for s in SPECIALTIES}
_BY_NAME: dict[str, str] = {
    **{s.name: s.code for s in SPECIALTIES},
    **{s.name_en.lower(): s.code for s in SPECIALTIES},
}

# A department's code (as institutions name their departments) → its specialty.
DEPARTMENT_SPECIALTY: dict[str, str] = {
    "EM": "20", "CARD": "03.04", "RESP": "03.01", "ENDO": "03.07", "NEURO": "03.03",
    "GI": "03.02", "NEPH": "03.06", "PED": "07", "OBGYN": "05", "GS": "04.01",
    "ORTH": "04.03", "OPH": "10", "ENT": "11", "DERM": "13", "ONC": "19", "ICU": "28",
    "REHAB": "21", "RAD": "32", "US": "32.05", "LAB": "30", "PATH": "31",
    "TCMIM": "50.01", "ACU": "50.13", "TUINA": "50.14", "TCMOR": "50", "PREV": "01",
    "OB": "05.02", "GYN": "05.01", "NICU": "07.01", "CHILD": "09", "BREAST": "04.01",
    "GP": "02", "WOMEN": "06", "TCM": "50",
}  # fmt: skip

# Physicians' titles from the most senior down: "associate chief or above" is a rank.
PHYSICIAN_RANK: dict[StaffTitle, int] = {
    StaffTitle.CHIEF_PHYSICIAN: 4,
    StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN: 3,
    StaffTitle.ATTENDING_PHYSICIAN: 2,
    StaffTitle.RESIDENT_PHYSICIAN: 1,
}


def get(code: str) -> Specialty | None:
    return BY_CODE.get(code)


def resolve(value: str) -> str | None:
    """A code, or a Chinese or English name, as the vocabulary's code (None if unknown)."""
    value = value.strip()
    if value in BY_CODE:
        return value
    return _BY_NAME.get(value) or _BY_NAME.get(value.lower())


def label(code: str, locale: str) -> str:
    found = BY_CODE.get(code)
    return found.label(locale) if found else code


def held(user_specialties: Iterable[str], department_code: str | None) -> frozenset[str]:
    """The vocabulary codes a staff member holds: their own, and their department's."""
    codes = {c for c in (resolve(s) for s in user_specialties) if c is not None}
    if department_code and department_code in DEPARTMENT_SPECIALTY:
        codes.add(DEPARTMENT_SPECIALTY[department_code])
    return frozenset(codes)


def matches(wanted: str, codes: Iterable[str]) -> bool:
    """Whether any held code meets the wanted one (a parent is met by its children)."""
    return any(c == wanted or c.split(".", 1)[0] == wanted for c in codes)


def title_at_least(title: StaffTitle | None, minimum: StaffTitle | None) -> bool:
    """Whether a physician's title is at least `minimum` (None asks for no minimum)."""
    if minimum is None:
        return True
    return PHYSICIAN_RANK.get(title, 0) >= PHYSICIAN_RANK.get(minimum, 99) if title else False


def require(value: str, *, field: str, optional: bool = False) -> str:
    """The vocabulary code for `value` (a code or a Chinese or English name) as written to
    a specialty column; else a 422 naming `field` (empty passes when `optional`)."""
    if optional and not value.strip():
        return ""
    code = resolve(value)
    if code is None:
        raise InvalidInput(
            "choose a specialty from the list",
            code="specialty.unknown",
            details={"field": field},
        )
    return code


def require_all(values: Iterable[str], *, field: str) -> list[str]:
    """Every value as a vocabulary code (a staff member's specialties), duplicates dropped."""
    return list(dict.fromkeys(require(v, field=field) for v in values))
