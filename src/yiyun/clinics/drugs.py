"""A small drug list with regulatory classes, for prescription advice in remote visits.

Narcotic (麻醉药品) and psychotropic (精神药品, class I and II) drugs may not be prescribed
remotely (互联网诊疗管理办法（试行）2018, art. 19: 不得开具麻醉药品、精神药品等特殊管理药品的
处方); advice naming one is refused before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DrugClass(StrEnum):
    ORDINARY = "ordinary"
    ANTIBIOTIC = "antibiotic"
    NARCOTIC = "narcotic"
    PSYCHOTROPIC_1 = "psychotropic_1"
    PSYCHOTROPIC_2 = "psychotropic_2"


NOT_REMOTE = frozenset({DrugClass.NARCOTIC, DrugClass.PSYCHOTROPIC_1, DrugClass.PSYCHOTROPIC_2})


@dataclass(frozen=True)
class Drug:
    code: str
    name: str
    name_en: str
    form: str
    drug_class: DrugClass = DrugClass.ORDINARY

    @property
    def remote_allowed(self) -> bool:
        return self.drug_class not in NOT_REMOTE


_LIST = [
    Drug("AMLO5", "苯磺酸氨氯地平片 5mg", "Amlodipine besylate 5 mg tablet", "tablet"),
    Drug("METF500", "盐酸二甲双胍片 0.5g", "Metformin hydrochloride 0.5 g tablet", "tablet"),
    Drug("ATOR20", "阿托伐他汀钙片 20mg", "Atorvastatin calcium 20 mg tablet", "tablet"),
    Drug("ASP100", "阿司匹林肠溶片 100mg", "Aspirin enteric-coated 100 mg tablet", "tablet"),
    Drug("LOSA50", "氯沙坦钾片 50mg", "Losartan potassium 50 mg tablet", "tablet"),
    Drug("METO25", "酒石酸美托洛尔片 25mg", "Metoprolol tartrate 25 mg tablet", "tablet"),
    Drug("OMEP20", "奥美拉唑肠溶胶囊 20mg", "Omeprazole 20 mg capsule", "capsule"),
    Drug(
        "AMOX500",
        "阿莫西林胶囊 0.5g",
        "Amoxicillin 0.5 g capsule",
        "capsule",
        DrugClass.ANTIBIOTIC,
    ),
    Drug(
        "MORP10",
        "盐酸吗啡片 10mg",
        "Morphine hydrochloride 10 mg tablet",
        "tablet",
        DrugClass.NARCOTIC,
    ),
    Drug(
        "FENT",
        "芬太尼透皮贴剂",
        "Fentanyl transdermal patch",
        "patch",
        DrugClass.NARCOTIC,
    ),
    Drug(
        "METH10",
        "盐酸哌甲酯片 10mg",
        "Methylphenidate hydrochloride 10 mg tablet",
        "tablet",
        DrugClass.PSYCHOTROPIC_1,
    ),
    Drug(
        "ALPR04",
        "阿普唑仑片 0.4mg",
        "Alprazolam 0.4 mg tablet",
        "tablet",
        DrugClass.PSYCHOTROPIC_2,
    ),
    Drug(
        "ESTA1",
        "艾司唑仑片 1mg",
        "Estazolam 1 mg tablet",
        "tablet",
        DrugClass.PSYCHOTROPIC_2,
    ),
]
DRUGS: dict[str, Drug] = {d.code: d for d in _LIST}
