"""The consultation opinion as a Chinese PDF (WeasyPrint, Noto CJK fonts from Debian).

The page names the inviting and the consulting institution, the patient by masked name,
the request, the structured opinion and the signer; the PAdES signature is applied
afterwards (`signing.sign_pdf`). Text is escaped here: no template engine in a domain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from html import escape

from yiyun.core.clock import district

CSS = """
@page { size: A4; margin: 18mm 16mm; @bottom-center { content: counter(page) " / " counter(pages);
  font-size: 9pt; color: #555; } }
body { font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif; font-size: 10.5pt;
  line-height: 1.55; color: #111; }
h1 { font-size: 17pt; text-align: center; margin: 0 0 2mm; letter-spacing: 2pt; }
.sub { text-align: center; color: #444; margin-bottom: 6mm; }
table.meta { width: 100%; border-collapse: collapse; margin-bottom: 5mm; }
table.meta td { border: 0.6pt solid #999; padding: 1.6mm 2mm; vertical-align: top; }
table.meta td.k { width: 22%; background: #f1f4f8; }
h2 { font-size: 12pt; border-left: 3pt solid #1d5fa8; padding-left: 2mm; margin: 5mm 0 2mm; }
p.block { white-space: pre-wrap; margin: 0; }
.sign { margin-top: 10mm; text-align: right; }
.note { margin-top: 8mm; font-size: 8.5pt; color: #555; }
"""


@dataclass(frozen=True)
class OpinionPage:
    number: str
    version: int
    supersedes: int | None
    amend_reason: str
    inviting_institution: str
    consulting_institution: str
    requester: str
    patient_masked: str
    patient_sex: str
    patient_age: int
    patient_mpi: str
    urgency: str
    specialty: str
    reason: str
    purpose: str
    findings: str
    diagnoses: list[tuple[str, str]]
    recommendations: str
    follow_up: str
    signer: str
    signer_title: str
    signed_at: datetime


def _p(text: str) -> str:
    return f'<p class="block">{escape(text) or "—"}</p>'


def html(page: OpinionPage) -> str:
    when = district(page.signed_at).strftime("%Y年%m月%d日 %H:%M")
    diagnoses = "".join(
        f"<li>{escape(name)}（ICD-10：{escape(code)}）</li>" for code, name in page.diagnoses
    )
    amended = (
        f"<tr><td class='k'>修订说明</td><td colspan='3'>本意见为第 {page.version} 版，"
        f"替代第 {page.supersedes} 版。原因：{escape(page.amend_reason)}</td></tr>"
        if page.supersedes
        else ""
    )
    rows = (
        f"<tr><td class='k'>会诊编号</td><td>{escape(page.number)}</td>"
        f"<td class='k'>紧急程度</td><td>{escape(page.urgency)}</td></tr>"
        f"<tr><td class='k'>邀请方</td><td>{escape(page.inviting_institution)}</td>"
        f"<td class='k'>邀请医生</td><td>{escape(page.requester)}</td></tr>"
        f"<tr><td class='k'>受邀方</td><td>{escape(page.consulting_institution)}</td>"
        f"<td class='k'>会诊科目</td><td>{escape(page.specialty)}</td></tr>"
        f"<tr><td class='k'>患者</td><td>{escape(page.patient_masked)}"
        f"（{escape(page.patient_sex)}，"
        f"{page.patient_age} 岁）</td><td class='k'>患者索引号</td>"
        f"<td>{escape(page.patient_mpi)}</td></tr>"
        f"<tr><td class='k'>会诊原因</td><td colspan='3'>{escape(page.reason)}</td></tr>"
        f"<tr><td class='k'>会诊目的</td><td colspan='3'>{escape(page.purpose) or '—'}</td></tr>"
        f"{amended}"
    )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>远程会诊意见 {escape(page.number)}</title><style>{CSS}</style></head><body>"
        f"<h1>远程会诊意见书</h1><div class='sub'>{escape(page.consulting_institution)}</div>"
        f"<table class='meta'>{rows}</table>"
        f"<h2>会诊所见</h2>{_p(page.findings)}"
        f"<h2>诊断</h2><ol>{diagnoses}</ol>"
        f"<h2>诊疗建议</h2>{_p(page.recommendations)}"
        f"<h2>随访建议</h2>{_p(page.follow_up)}"
        f"<div class='sign'>会诊专家：{escape(page.signer)}（{escape(page.signer_title)}）"
        f"<br>签署时间：{when}（北京时间）</div>"
        "<div class='note'>本意见书由会诊专家以数字证书电子签名；邀请方医生对患者的诊疗负责"
        "（《远程医疗服务管理规范（试行）》）。电子签名验证失败或内容被修改时，本意见书无效。</div>"
        "</body></html>"
    )


def _render(source: str) -> bytes:
    import weasyprint

    data: bytes = weasyprint.HTML(string=source).write_pdf()
    return data


async def render(page: OpinionPage) -> bytes:
    """The unsigned PDF (rendered off the event loop)."""
    return await asyncio.to_thread(_render, html(page))
