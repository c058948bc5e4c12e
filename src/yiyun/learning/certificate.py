"""The credit certificate as a Chinese PDF (WeasyPrint, Noto CJK fonts from Debian).
Text is escaped here: no template engine in a domain."""

from __future__ import annotations

import asyncio
from html import escape

from yiyun.core.clock import district
from yiyun.learning.courses import Credit

CSS = """
@page { size: A4 landscape; margin: 14mm; }
body { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; color: #1b2b30; }
.frame { border: 3pt double #8a6d1f; padding: 14mm 18mm; height: 150mm; position: relative; }
h1 { text-align: center; font-size: 28pt; letter-spacing: 8pt; margin: 4mm 0 2mm; }
.en { text-align: center; color: #666; font-size: 10pt; letter-spacing: 1pt; margin-bottom: 12mm; }
p.body { font-size: 15pt; line-height: 2; text-indent: 2em; margin: 0; }
b { border-bottom: 0.8pt solid #333; padding: 0 2mm; }
.foot { position: absolute; bottom: 12mm; left: 18mm; right: 18mm; font-size: 10.5pt; }
.foot .right { float: right; text-align: right; }
"""


def html(credit: Credit, *, issuer: str) -> str:
    done = district(credit.completed_at)
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<style>{CSS}</style></head><body><div class='frame'>"
        "<h1>继续医学教育学分证书</h1>"
        "<div class='en'>Certificate of Continuing Medical Education Credit</div>"
        f"<p class='body'><b>{escape(credit.display_name)}</b>（{escape(credit.site)}）"
        f"于 {done.year} 年 {done.month} 月 {done.day} 日完成远程教学课程"
        f"《<b>{escape(credit.course_title)}</b>》的全部学习要求（视频观看、讲座出勤及课后测验），"
        f"经审核合格，授予 {credit.credit_year} 年度继续医学教育学分 "
        f"<b>{credit.credit_hours:g}</b> 学时。</p>"
        "<div class='foot'>"
        f"<span>证书编号：{escape(credit.certificate_no)}</span>"
        f"<span class='right'>{escape(issuer)}<br>{done:%Y年%m月%d日}</span>"
        "</div></div></body></html>"
    )


def _render(source: str) -> bytes:
    import weasyprint

    data: bytes = weasyprint.HTML(string=source).write_pdf()
    return data


async def render(credit: Credit, *, issuer: str) -> bytes:
    return await asyncio.to_thread(_render, html(credit, issuer=issuer))
