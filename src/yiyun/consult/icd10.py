"""A small ICD-10 subset (code → Chinese and English name) for consultation diagnoses.

The list ships with the package (`data/icd10.tsv`); a deployment with the full national
clinical edition can replace the file. `normalise` accepts "i10", "I10 " and "I10".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    name_en: str


def normalise(code: str) -> str:
    return code.strip().upper()


@cache
def catalogue() -> dict[str, Code]:
    text = resources.files("yiyun.consult").joinpath("data/icd10.tsv").read_text("utf-8")
    out: dict[str, Code] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, name, name_en = line.split("\t")
        out[code] = Code(code, name, name_en)
    return out


def get(code: str) -> Code | None:
    return catalogue().get(normalise(code))


def search(q: str, limit: int = 20) -> list[Code]:
    """Codes whose code starts with, or whose names contain, the query."""
    q = q.strip()
    if not q:
        return []
    upper, lower = q.upper(), q.lower()
    found = [
        c
        for c in catalogue().values()
        if c.code.startswith(upper) or q in c.name or lower in c.name_en.lower()
    ]
    return found[:limit]
