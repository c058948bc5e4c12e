// The operations topology: sites → terminals → app nodes → media servers → TURN, each
// coloured by state, laid out in columns; refreshed every 5 seconds.
import { GraphChart } from "echarts/charts";
import { TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([GraphChart, TooltipComponent, CanvasRenderer]);

interface TNode {
  id: string;
  layer: string;
  name: string;
  state: string;
}

interface Topology {
  nodes: TNode[];
  links: { source: string; target: string }[];
}

const LAYERS = ["site", "terminal", "app", "media", "turn"];
const COLOURS: Record<string, string> = { ok: "#1f8a4c", warn: "#e67e22", down: "#c0392b", idle: "#98a2ad" };
const root = document.getElementById("topology") as HTMLElement | null;
const summary = document.getElementById("topology-summary");

async function load(): Promise<Topology | null> {
  const res = await fetch("/api/v1/ops/topology", { credentials: "same-origin", headers: { Accept: "application/json" } });
  return res.ok ? ((await res.json()) as Topology) : null;
}

function layout(data: Topology, width: number, height: number) {
  const columns = LAYERS.map((layer) => data.nodes.filter((n) => n.layer === layer));
  const step = width / (LAYERS.length + 0.5);
  return columns.flatMap((nodes, col) =>
    nodes.map((n, i) => ({
      id: n.id,
      name: n.name,
      x: step * (col + 0.75),
      y: ((i + 1) * height) / (nodes.length + 1),
      symbolSize: n.layer === "terminal" ? 8 : 16,
      itemStyle: { color: COLOURS[n.state] ?? COLOURS.idle },
      label: { show: nodes.length <= 30, position: "right" as const, fontSize: 11 },
      value: n.state,
      category: col,
    })),
  );
}

function fillSummary(data: Topology): void {
  if (!summary || !root) return;
  summary.replaceChildren();
  for (const layer of LAYERS) {
    const nodes = data.nodes.filter((n) => n.layer === layer);
    const tr = document.createElement("tr");
    const th = document.createElement("td");
    th.textContent = root.dataset[`layer${layer.charAt(0).toUpperCase()}${layer.slice(1)}`] ?? layer;
    tr.append(th);
    for (const state of ["ok", "warn", "down"]) {
      const td = document.createElement("td");
      td.textContent = String(nodes.filter((n) => n.state === state).length);
      td.dataset.layer = layer;
      td.dataset.state = state;
      tr.append(td);
    }
    summary.append(tr);
  }
}

if (root) {
  const chart = echarts.init(root);
  const draw = async (): Promise<void> => {
    const data = await load();
    if (!data) return;
    root.dataset.nodes = String(data.nodes.length);
    const width = root.clientWidth || 1000;
    const height = root.clientHeight || 600;
    chart.setOption({
      tooltip: { formatter: (p: { name?: string; value?: string }) => `${p.name ?? ""}<br>${root.dataset[`state${(p.value ?? "").charAt(0).toUpperCase()}${(p.value ?? "").slice(1)}`] ?? ""}` },
      animation: false,
      series: [
        {
          type: "graph",
          layout: "none",
          roam: true,
          data: layout(data, width, height),
          links: data.links,
          lineStyle: { color: "#b8c2cc", width: 1, opacity: 0.6 },
          emphasis: { focus: "adjacency" },
        },
      ],
    });
    fillSummary(data);
  };
  void draw();
  window.setInterval(() => void draw(), 5000);
  window.addEventListener("resize", () => chart.resize());
}
