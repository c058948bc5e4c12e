"""axe-core (WCAG 2 A and AA rules) in a Playwright page: the npm package the front-end
pins (`frontend/package.json`), injected into the page under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
  }));
}"""


def violations(page: Any) -> list[dict[str, Any]]:
    """Every WCAG 2 A/AA violation axe finds on the page as it is now."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run scripts/build-frontend.sh (npm ci)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through the devtools protocol: the page's own CSP stays as it is
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    return list(page.evaluate(RUN, TAGS))


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} elements")
        lines += [f"    {n['target']}" for n in v["nodes"][:5]]
    return "\n".join(lines)
