"""Exports: any dashboard table as XLSX (openpyxl), and the monthly report as a PDF in
Chinese with charts (WeasyPrint, Noto CJK fonts; charts are drawn here as SVG)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font


@dataclass(frozen=True)
class Table:
    title: str
    note: str  # the definitions and the period: every exported figure says what it is
    header: list[str]
    rows: list[list[Any]]


def xlsx(table: Table) -> bytes:
    wb = Workbook()
    ws = wb.create_sheet("data", 0)
    wb.remove(wb.worksheets[1])
    ws.append([table.title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([table.note])
    ws["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=max(2, len(table.header)))
    ws.row_dimensions[2].height = 15 * max(2, table.note.count("\n") + 2)
    ws.append([])
    ws.append(table.header)
    for cell in ws[4]:
        cell.font = Font(bold=True)
    for row in table.rows:
        ws.append(row)
    for n, _ in enumerate(table.header, start=1):
        ws.column_dimensions[chr(64 + min(n, 26))].width = 18 if n > 1 else 28
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- the monthly report -------------------------------------------------------------

PALETTE = ("#1f6f8b", "#e67e22", "#2e8b57", "#8e44ad", "#c0392b")


def bar_svg(labels: list[str], values: list[float], *, width: int = 640, height: int = 180) -> str:
    """A bar chart as inline SVG (WeasyPrint runs no JavaScript)."""
    top = max(values or [0]) or 1.0
    n = max(1, len(values))
    slot = (width - 50) / n
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - 40) * value / top
        x = 40 + i * slot + slot * 0.15
        y = height - 20 - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0] if i < n - 1 else PALETTE[1]}"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 6}" font-size="9" '
            f'text-anchor="middle">{escape(label[-5:])}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" font-size="8" '
            f'text-anchor="middle">{value:g}</text>'
        )
    axis = f'<line x1="38" y1="{height - 20}" x2="{width - 5}" y2="{height - 20}" stroke="#888"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{axis}{"".join(bars)}</svg>'
    )


@dataclass(frozen=True)
class ReportSection:
    label: str
    unit: str
    definition: str
    value: float
    mom: float | None
    yoy: float | None
    months: list[str]
    series: list[float]
    top: list[tuple[str, float]]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def report_html(*, district: str, month: date, made_at: str, sections: list[ReportSection]) -> str:
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><style>",
        "@page { size: A4; margin: 16mm 14mm; @bottom-center { content: counter(page); "
        "font-size: 9pt; } }",
        "body { font-family: 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif; font-size: 10pt; "
        "color: #1b2b30; }",
        "h1 { font-size: 18pt; margin: 0 0 4pt; } h2 { font-size: 12pt; margin: 14pt 0 4pt; "
        "border-bottom: 1px solid #cdd; padding-bottom: 2pt; }",
        ".muted { color: #667; font-size: 8.5pt; } table { border-collapse: collapse; "
        "width: 100%; } td, th { border: 1px solid #cdd; padding: 3pt 5pt; text-align: left; }",
        "th { background: #eef4f5; } section { page-break-inside: avoid; }",
        "</style></head><body>",
        f"<h1>{escape(district)} 远程医疗服务月度统计报告</h1>",
        f"<p>统计月份：{month.year} 年 {month.month} 月 · 时区：北京时间（UTC+8）· "
        f"生成时间：{escape(made_at)}</p>",
        "<h2>概览</h2><table><tr><th>指标</th><th>本月</th><th>环比</th><th>同比</th></tr>",
    ]
    for s in sections:
        parts.append(
            f"<tr><td>{escape(s.label)}</td><td>{s.value:g} {escape(s.unit)}</td>"
            f"<td>{pct(s.mom)}</td><td>{pct(s.yoy)}</td></tr>"
        )
    parts.append("</table>")
    for s in sections:
        parts.append(f"<section><h2>{escape(s.label)}</h2>")
        parts.append(f"<p class='muted'>口径：{escape(s.definition)}</p>")
        parts.append(bar_svg(s.months, s.series))
        if s.top:
            parts.append("<table><tr><th>机构（本月前五）</th><th>数值</th></tr>")
            parts.extend(
                f"<tr><td>{escape(name)}</td><td>{value:g} {escape(s.unit)}</td></tr>"
                for name, value in s.top
            )
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported late: it loads Pango

    return bytes(HTML(string=html).write_pdf())
