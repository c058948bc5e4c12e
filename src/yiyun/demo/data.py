"""Static material for the demo consortium: names, places, catalogues and the site layout.

Everything is fictional: the district, its streets and its sites do not exist, resident
ID numbers use the unassigned area code 440399 and every address says 示例.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

from yiyun.org.enums import InstitutionKind, InstitutionLevel, Role, StaffTitle

SEED = "yiyun-demo-v1"
REGION_CODE = "DEMO-440399"
REGION_NAME = "云溪示范区（演示）"
REGION_NAME_EN = "Yunxi Demo District"
AREA_CODE = "440399"
CODE_PREFIX = "DEMO-"
DEMO_PASSWORD = "Yiyun-Demo-2026"  # noqa: S105 - published on purpose, demo only
# Birth dates, licence validity and the like are fixed against this day, so the same
# people come out of every run.
ANCHOR = date(2026, 1, 1)

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛阎段雷侯龙史陶黎贺顾毛郝龚邵"
)
GIVEN_MALE = tuple("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋志峰建国文博晨阳")
GIVEN_FEMALE = tuple("芳娜敏静丽艳娟霞秀玲桂兰燕萍红雪琳晶颖慧佳怡梅莉倩婷悦欣雨琪璐瑶琴丹薇洁岚月")

# (Chinese, pinyin) pairs; combined into 96 fictional community names, of which 91 are used.
# fmt: off
STREETS = (
    ("云溪", "Yunxi"), ("枫林", "Fenglin"), ("石桥", "Shiqiao"), ("桃源", "Taoyuan"),
    ("松岗", "Songgang"), ("梅湾", "Meiwan"), ("竹园", "Zhuyuan"), ("青湖", "Qinghu"),
)
COMMUNITIES = (
    ("东坡", "Dongpo"), ("西岭", "Xiling"), ("南苑", "Nanyuan"), ("北岸", "Bei'an"),
    ("翠竹", "Cuizhu"), ("金桂", "Jingui"), ("银杏", "Yinxing"), ("玉泉", "Yuquan"),
    ("锦绣", "Jinxiu"), ("春晖", "Chunhui"), ("和平", "Heping"), ("望海", "Wanghai"),
)
# fmt: on


@dataclass(frozen=True)
class DeptSpec:
    code: str
    name: str
    name_en: str
    specialties: tuple[str, ...] = ()
    clinical: bool = True


def _d(code: str, name: str, name_en: str, *specialties: str) -> DeptSpec:
    return DeptSpec(code, name, name_en, specialties)


_EMERGENCY = _d("EM", "急诊科", "Emergency medicine", "急危重症", "创伤急救", "胸痛中心")
_IMAGING = _d("RAD", "影像科", "Radiology", "CT诊断", "磁共振诊断", "胸部影像")
_LAB = _d("LAB", "检验科", "Clinical laboratory", "临床生化", "临床免疫", "微生物检验")
_ULTRASOUND = _d("US", "超声科", "Ultrasound", "心脏超声", "腹部超声", "血管超声")
_IT = DeptSpec("IT", "信息科", "Information technology", clinical=False)
_MEDICAL = DeptSpec("MED", "医务科", "Medical affairs", clinical=False)
REMOTE_CENTRE = DeptSpec("RMC", "远程医疗中心", "Remote medicine centre", clinical=False)

LEAD_DEPARTMENTS = (
    _EMERGENCY,
    _d("CARD", "心血管内科", "Cardiology", "冠心病", "高血压", "心律失常", "心力衰竭"),
    _d("RESP", "呼吸内科", "Respiratory medicine", "慢阻肺", "哮喘", "肺部感染"),
    _d("ENDO", "内分泌科", "Endocrinology", "糖尿病", "甲状腺疾病", "骨质疏松"),
    _d("NEURO", "神经内科", "Neurology", "脑卒中", "癫痫", "帕金森病"),
    _d("GI", "消化内科", "Gastroenterology", "消化内镜", "肝病", "炎症性肠病"),
    _d("NEPH", "肾内科", "Nephrology", "慢性肾病", "血液透析"),
    _d("PED", "儿科", "Paediatrics", "儿童呼吸", "儿童消化", "新生儿"),
    _d("OBGYN", "妇产科", "Obstetrics and gynaecology", "产科", "妇科肿瘤", "高危妊娠"),
    _d("GS", "普外科", "General surgery", "肝胆外科", "胃肠外科", "甲状腺外科"),
    _d("ORTH", "骨科", "Orthopaedics", "关节外科", "脊柱外科", "运动医学"),
    _d("OPH", "眼科", "Ophthalmology", "眼底病", "白内障", "青光眼"),
    _d("ENT", "耳鼻咽喉科", "Otorhinolaryngology", "鼻科", "耳科", "咽喉科"),
    _d("DERM", "皮肤科", "Dermatology", "湿疹皮炎", "银屑病", "皮肤影像"),
    _d("ONC", "肿瘤科", "Oncology", "肺癌", "消化道肿瘤", "化疗"),
    _d("ICU", "重症医学科", "Critical care", "重症感染", "呼吸支持"),
    _d("REHAB", "康复医学科", "Rehabilitation medicine", "神经康复", "骨科康复"),
    *(_IMAGING, _ULTRASOUND, _LAB),
    _d("PATH", "病理科", "Pathology", "组织病理", "细胞病理"),
    *(REMOTE_CENTRE, _IT, _MEDICAL),
)
TCM_DEPARTMENTS = (
    _d("TCMIM", "中医内科", "TCM internal medicine", "脾胃病", "心脑病", "肺病"),
    _d("ACU", "针灸科", "Acupuncture", "针灸", "艾灸"),
    _d("TUINA", "推拿科", "Tuina massage", "颈肩腰腿痛", "小儿推拿"),
    _d("TCMOR", "骨伤科", "TCM orthopaedics", "骨折复位", "颈椎病"),
    _d("REHAB", "康复科", "Rehabilitation", "中风康复", "运动康复"),
    _d("PREV", "治未病中心", "Preventive TCM", "体质辨识", "膏方调理"),
    *(_EMERGENCY, _IMAGING, _LAB, _IT, _MEDICAL),
)
MCH_DEPARTMENTS = (
    _d("OB", "产科", "Obstetrics", "高危妊娠", "产前诊断"),
    _d("GYN", "妇科", "Gynaecology", "宫颈疾病", "妇科内分泌"),
    _d("PED", "儿科", "Paediatrics", "儿童哮喘", "儿童营养", "发育行为"),
    _d("NICU", "新生儿科", "Neonatology", "早产儿", "新生儿黄疸"),
    _d("CHILD", "儿童保健科", "Child health", "生长发育", "儿童心理"),
    _d("BREAST", "乳腺科", "Breast clinic", "乳腺超声", "乳腺疾病"),
    *(_EMERGENCY, _ULTRASOUND, _LAB, _IT, _MEDICAL),
)
CHC_DEPARTMENTS = (
    _d("GP", "全科", "General practice", "慢病管理", "家庭医生签约", "高血压随访", "糖尿病随访"),
    _d("PREV", "预防保健", "Preventive care", "预防接种", "健康教育", "老年人体检"),
    _d("CHILD", "儿童保健", "Child health", "儿童体检", "生长发育监测"),
    _d("WOMEN", "妇女保健", "Women's health", "孕产期保健", "两癌筛查"),
    _d("TCM", "中医", "Traditional Chinese medicine", "针灸", "中医体质辨识"),
)


@dataclass(frozen=True)
class SiteSpec:
    key: str  # short, lower case: "auth", "h01", "c001"
    code: str
    name: str
    name_en: str
    kind: InstitutionKind
    level: InstitutionLevel
    parent_key: str | None
    address: str
    street: str
    map_x: float
    map_y: float
    departments: tuple[DeptSpec, ...]

    @property
    def is_hospital(self) -> bool:
        return self.kind in (InstitutionKind.LEAD_HOSPITAL, InstitutionKind.HOSPITAL)


# fmt: off
AUTHORITY = ("auth", "云溪示范区卫生健康局", "Yunxi Demo District Health Bureau", 0.54, 0.42)
# key, name, English name, kind, level, departments, map position
HOSPITALS = (
    ("h01", "云溪示范区人民医院", "Yunxi Demo District People's Hospital",
     InstitutionKind.LEAD_HOSPITAL, InstitutionLevel.TERTIARY_A, LEAD_DEPARTMENTS, 0.5, 0.5),
    ("h02", "云溪示范区中医院", "Yunxi Demo District Hospital of Traditional Chinese Medicine",
     InstitutionKind.HOSPITAL, InstitutionLevel.SECONDARY_A, TCM_DEPARTMENTS, 0.24, 0.3),
    ("h03", "云溪示范区妇幼保健院", "Yunxi Demo District Maternal and Child Health Hospital",
     InstitutionKind.HOSPITAL, InstitutionLevel.SECONDARY_A, MCH_DEPARTMENTS, 0.74, 0.7),
)
# fmt: on
CHC_COUNT = 91


def code_of(key: str) -> str:
    return CODE_PREFIX + key.upper()


def _grid_positions(count: int, taken: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A jittered 10 x 10 grid over the unit square, skipping cells next to the hospitals."""
    rng = random.Random(f"{SEED}:map")
    cells: list[tuple[float, float]] = []
    for row in range(10):
        for col in range(10):
            x, y = (col + 0.5) / 10, (row + 0.5) / 10
            if any(math.dist((x, y), spot) < 0.06 for spot in taken):
                continue
            jx, jy = rng.uniform(-0.035, 0.035), rng.uniform(-0.035, 0.035)
            cells.append((round(x + jx, 4), round(y + jy, 4)))
    # Drop the surplus cells evenly rather than leaving one corner of the map empty.
    return [cells[i * len(cells) // count] for i in range(count)]


def sites() -> list[SiteSpec]:
    """The authority, the three hospitals and 91 CHCs, in seeding order."""
    key, name, name_en, x, y = AUTHORITY
    out = [
        SiteSpec(key, code_of(key), name, name_en, InstitutionKind.HEALTH_AUTHORITY,
                 InstitutionLevel.UNGRADED, None, "云溪示范区政务中心一号楼（示例地址）",
                 STREETS[0][0], x, y, ())
    ]  # fmt: skip
    for n, (key, name, name_en, kind, level, depts, x, y) in enumerate(HOSPITALS, start=1):
        street = STREETS[n * 2][0]
        address = f"{street}街道健康大道{n * 100 + 8}号（示例地址）"
        out.append(SiteSpec(key, code_of(key), name, name_en, kind, level, None, address,
                            street, x, y, depts))  # fmt: skip
    hospitals = out[1:]
    positions = _grid_positions(CHC_COUNT, [(s.map_x, s.map_y) for s in out])
    # Number the centres outwards from the lead hospital, so CHC 1 and 2 sit beside it.
    lead = (out[1].map_x, out[1].map_y)
    positions.sort(key=lambda p: (round(math.dist(p, lead), 6), p))
    per_street: dict[int, int] = {}
    for i, (x, y) in enumerate(positions):
        # Streets are rings of 11-12 neighbouring centres; each community name once per street.
        band = i * len(STREETS) // CHC_COUNT
        street, street_en = STREETS[band]
        per_street[band] = per_street.get(band, 0) + 1
        community, community_en = COMMUNITIES[per_street[band] - 1]
        nearest = min(hospitals, key=lambda h: math.dist((x, y), (h.map_x, h.map_y)))
        key = f"c{i + 1:03d}"
        out.append(SiteSpec(
            key, code_of(key), f"{street}{community}社区健康服务中心",
            f"{street_en} {community_en} Community Health Centre",
            InstitutionKind.COMMUNITY_HEALTH_CENTRE, InstitutionLevel.PRIMARY, nearest.key,
            f"{street}街道{community}路{(i * 37) % 180 + 2}号（示例地址）", street, x, y,
            CHC_DEPARTMENTS,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class NamedLogin:
    username: str
    display_name: str
    role: Role
    site_key: str
    dept_code: str | None
    title: StaffTitle | None
    specialties: tuple[str, ...] = ()


# fmt: off
NAMED_LOGINS = (
    NamedLogin("admin", "周建国", Role.CONSORTIUM_ADMIN, "h01", "MED", StaffTitle.ADMINISTRATOR),
    NamedLogin("authority", "钱雅琴", Role.AUTHORITY, "auth", None, StaffTitle.ADMINISTRATOR),
    NamedLogin("doctor", "林晓云", Role.COMMUNITY_DOCTOR, "c001", "GP",
               StaffTitle.ATTENDING_PHYSICIAN, ("慢病管理", "家庭医生签约")),
    NamedLogin("doctor2", "陈志远", Role.COMMUNITY_DOCTOR, "c002", "GP",
               StaffTitle.ATTENDING_PHYSICIAN, ("高血压随访",)),
    NamedLogin("specialist", "宋怀仁", Role.SPECIALIST, "h01", "CARD",
               StaffTitle.CHIEF_PHYSICIAN, ("冠心病", "心力衰竭")),
    NamedLogin("nurse", "何静怡", Role.NURSE, "c001", "GP", StaffTitle.NURSE_IN_CHARGE),
    NamedLogin("dispatcher", "唐明轩", Role.DISPATCHER, "h01", "RMC", StaffTitle.ADMINISTRATOR),
    NamedLogin("instadmin", "邓丽华", Role.INSTITUTION_ADMIN, "c001", None,
               StaffTitle.ADMINISTRATOR),
    NamedLogin("ops", "孟凡宇", Role.OPS_ENGINEER, "h01", "IT", StaffTitle.ENGINEER),
)
# fmt: on

# Years of practice by title (inclusive range).
YEARS_BY_TITLE = {
    StaffTitle.CHIEF_PHYSICIAN: (20, 35),
    StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN: (12, 25),
    StaffTitle.ATTENDING_PHYSICIAN: (5, 15),
    StaffTitle.RESIDENT_PHYSICIAN: (1, 5),
    StaffTitle.NURSE_IN_CHARGE: (8, 25),
    StaffTitle.NURSE: (1, 10),
}
# fmt: off
SPECIALIST_TITLES = (
    (StaffTitle.CHIEF_PHYSICIAN, 2), (StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN, 3),
    (StaffTitle.ATTENDING_PHYSICIAN, 4), (StaffTitle.RESIDENT_PHYSICIAN, 1),
)
GP_TITLES = (
    (StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN, 1), (StaffTitle.ATTENDING_PHYSICIAN, 5),
    (StaffTitle.RESIDENT_PHYSICIAN, 3),
)
# fmt: on

# Document templates: (kind, title, body with {placeholders} filled from `document_values`).
# fmt: off
SUMMARIES = (
    ("高血压随访小结", "血压 {sbp}/{dbp} mmHg，心率 {hr} 次/分。规律服用氨氯地平 5 mg 每日一次，"
     "无头晕胸闷。建议低盐饮食、每周中等强度运动 150 分钟，一个月后复诊。（示例数据）"),
    ("2型糖尿病随访小结", "空腹血糖 {fpg} mmol/L，糖化血红蛋白 {hba1c}%。二甲双胍 0.5 g 每日两次，"
     "足部检查未见破溃。继续饮食控制，三个月后复查糖化血红蛋白。（示例数据）"),
    ("门诊病历摘要", "主诉：咳嗽 {days} 天。查体：体温 {temp} ℃，双肺呼吸音清。"
     "诊断：急性上呼吸道感染。处理：对症治疗，多饮水，症状加重及时就诊。（示例数据）"),
    ("老年人健康体检小结", "身高 {height} cm，体重 {weight} kg，血压 {sbp}/{dbp} mmHg。"
     "心电图：窦性心律。建议：控制体重，定期监测血压。（示例数据）"),
)
LAB_RESULTS = (
    ("血常规", "白细胞 {wbc} ×10⁹/L（3.5–9.5）\n血红蛋白 {hb} g/L（115–150）\n"
     "血小板 {plt} ×10⁹/L（125–350）\n（示例数据）"),
    ("肝肾功能", "ALT {alt} U/L（7–40）\n肌酐 {cr} μmol/L（41–81）\n"
     "尿酸 {ua} μmol/L（155–357）\n（示例数据）"),
    ("血脂四项", "总胆固醇 {tc} mmol/L\n甘油三酯 {tg} mmol/L\nLDL-C {ldl} mmol/L\n"
     "HDL-C {hdl} mmol/L\n（示例数据）"),
    ("糖化血红蛋白", "HbA1c {hba1c}%（4.0–6.0）\n空腹血糖 {fpg} mmol/L（3.9–6.1）\n（示例数据）"),
)
# fmt: on
