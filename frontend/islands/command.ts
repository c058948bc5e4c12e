// The emergency command room: a schematic district map of every site coloured by
// alert and terminal state, open alerts with one-click convening, district trends,
// incidents, tasks and resources. Refreshes itself; works on a command-centre wall.
import { LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

interface Site {
  id: number;
  code: string;
  name: string;
  name_en: string;
  kind: string;
  x: number | null;
  y: number | null;
  terminals: { online: number; total: number };
  alert: { state: string; severity?: string; alert_id?: number; syndrome?: string } | null;
  open_tasks: number;
  resources: { beds_free: number; beds_total: number; fever_waiting: number; fever_capacity: number } | null;
}

interface Board {
  sites: Site[];
  terminals: { online: number; total: number };
  incidents: { id: number; title: string; sites: number[]; meeting_id: number | null }[];
}

interface Alert {
  id: number;
  site_id: number | null;
  syndrome: string;
  state: string;
  severity?: string;
  score?: number;
}

const root = document.getElementById("command") as HTMLElement | null;
const zh = document.documentElement.lang.startsWith("zh");
const SVG = "http://www.w3.org/2000/svg";

function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

async function api<T>(path: string, init?: RequestInit): Promise<T | null> {
  const res = await fetch(path, {
    credentials: "same-origin",
    ...init,
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf(), ...(init?.headers ?? {}) },
  });
  if (!res.ok) return null;
  return (await res.json()) as T;
}

function colour(site: Site): string {
  const state = site.alert?.state;
  if (state === "confirmed" || state === "investigating") return "#c0392b";
  if (state === "new" || state === "acknowledged") return "#e67e22";
  return "#1f8a4c";
}

function drawMap(svg: SVGSVGElement, sites: Site[], onPick: (s: Site) => void): void {
  svg.replaceChildren();
  const frame = document.createElementNS(SVG, "rect");
  frame.setAttribute("x", "0");
  frame.setAttribute("y", "0");
  frame.setAttribute("width", "1000");
  frame.setAttribute("height", "700");
  frame.setAttribute("rx", "24");
  frame.setAttribute("class", "district");
  svg.append(frame);
  for (const site of sites) {
    if (site.x === null || site.y === null) continue;
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("class", `site kind-${site.kind}`);
    g.dataset.site = String(site.id);
    g.dataset.alert = site.alert?.state ?? "none";
    const cx = 40 + site.x * 920;
    const cy = 40 + site.y * 620;
    const r = site.kind === "community_health_centre" ? 9 : 16;
    const ring = document.createElementNS(SVG, "circle");
    ring.setAttribute("cx", String(cx));
    ring.setAttribute("cy", String(cy));
    ring.setAttribute("r", String(r + 4));
    const online = site.terminals.total ? site.terminals.online / site.terminals.total : 0;
    ring.setAttribute("class", online >= 1 ? "ring online" : online > 0 ? "ring partial" : "ring offline");
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", String(cx));
    dot.setAttribute("cy", String(cy));
    dot.setAttribute("r", String(r));
    dot.setAttribute("fill", colour(site));
    if (site.alert) dot.setAttribute("class", "pulse");
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${zh ? site.name : site.name_en} · ${site.terminals.online}/${site.terminals.total}`;
    g.append(ring, dot, title);
    g.addEventListener("click", () => onPick(site));
    svg.append(g);
  }
  // Alerting sites are named on the map itself (drawn last, so above every dot).
  for (const site of sites) {
    if (!site.alert || site.x === null || site.y === null) continue;
    const cx = 40 + site.x * 920;
    const cy = 40 + site.y * 620;
    const r = site.kind === "community_health_centre" ? 9 : 16;
    const label = document.createElementNS(SVG, "text");
    const right = cx < 760;
    label.setAttribute("x", String(right ? cx + r + 8 : cx - r - 8));
    label.setAttribute("y", String(cy + 5));
    label.setAttribute("text-anchor", right ? "start" : "end");
    label.setAttribute("class", "site-label");
    label.dataset.siteLabel = String(site.id);
    label.textContent = zh ? site.name : site.name_en;
    svg.append(label);
  }
}

const STATES: Record<string, [string, string]> = {
  new: ["新预警", "new"],
  acknowledged: ["已响应", "acknowledged"],
  investigating: ["调查中", "investigating"],
  confirmed: ["已确认", "confirmed"],
};

class CommandRoom {
  private chart: echarts.ECharts | null = null;
  private readonly syndromes = new Map<string, string>();
  board: Board | null = null;

  constructor(private readonly root: HTMLElement) {}

  async refresh(): Promise<void> {
    const board = await api<Board>("/api/v1/emergency/board");
    if (!board) return;
    this.board = board;
    const svg = this.root.querySelector<SVGSVGElement>("[data-map]");
    if (svg) drawMap(svg, board.sites, (s) => this.pick(s));
    this.fill("[data-stat=sites]", String(board.sites.length));
    this.fill("[data-stat=alerting]", String(board.sites.filter((s) => s.alert).length));
    this.fill("[data-stat=terminals]", `${board.terminals.online}/${board.terminals.total}`);
    this.fill("[data-stat=incidents]", String(board.incidents.length));
    this.renderIncidents(board);
    await this.renderTrends();
    await this.renderAlerts(board);
    this.root.dataset.ready = "true";
  }

  private fill(selector: string, text: string): void {
    const el = this.root.querySelector(selector);
    if (el) el.textContent = text;
  }

  private pick(site: Site): void {
    const box = this.root.querySelector<HTMLElement>("[data-site-detail]");
    if (!box) return;
    const res = site.resources;
    box.replaceChildren();
    const h = document.createElement("h3");
    h.textContent = zh ? site.name : site.name_en;
    const p = document.createElement("p");
    p.textContent = [
      `${zh ? "终端在线" : "Terminals online"}: ${site.terminals.online}/${site.terminals.total}`,
      res ? `${zh ? "空床" : "Free beds"}: ${res.beds_free}/${res.beds_total}` : "",
      res ? `${zh ? "发热门诊候诊" : "Fever clinic waiting"}: ${res.fever_waiting}/${res.fever_capacity}` : "",
      `${zh ? "未完成任务" : "Open tasks"}: ${site.open_tasks}`,
    ].filter(Boolean).join(" · ");
    box.append(h, p);
  }

  private renderIncidents(board: Board): void {
    const list = this.root.querySelector("[data-incidents]");
    if (!list) return;
    list.replaceChildren(
      ...board.incidents.map((i) => {
        const li = document.createElement("li");
        const label = `${i.title} (${i.sites.length})`;
        if (i.meeting_id) {
          const a = document.createElement("a");
          a.href = `/meetings/${i.meeting_id}`;
          a.textContent = label;
          li.append(a);
        } else {
          li.textContent = label;
        }
        return li;
      }),
    );
  }

  private async renderAlerts(board: Board): Promise<void> {
    const list = this.root.querySelector("[data-alerts]");
    if (!list) return;
    const alerts = (await api<Alert[] | { items: Alert[] }>("/api/v1/surveillance/alerts?open=true")) ?? [];
    const items = Array.isArray(alerts) ? alerts : alerts.items;
    const names = new Map(board.sites.map((s) => [s.id, zh ? s.name : s.name_en]));
    list.replaceChildren(
      ...items.map((alert) => {
        const li = document.createElement("li");
        li.dataset.alertId = String(alert.id);
        const label = document.createElement("span");
        const where = alert.site_id ? names.get(alert.site_id) ?? alert.site_id : zh ? "全区" : "District";
        label.textContent = `${where} · ${this.syndromes.get(alert.syndrome) ?? alert.syndrome} · ${STATES[alert.state]?.[zh ? 0 : 1] ?? alert.state}`;
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = zh ? "一键会商" : "Convene";
        button.dataset.action = "convene-alert";
        button.addEventListener("click", () => void this.convene(alert, board));
        li.append(label, button);
        return li;
      }),
    );
  }

  private async convene(alert: Alert, board: Board): Promise<void> {
    const sites = alert.site_id ? [alert.site_id] : board.sites.map((s) => s.id);
    const incident = await api<{ id: number }>("/api/v1/emergency/incidents", {
      method: "POST",
      body: JSON.stringify({ title: `${alert.syndrome} #${alert.id}`, site_ids: sites, alert_id: alert.id }),
    });
    if (!incident) return;
    const done = await api<{ meeting_id: number }>(`/api/v1/emergency/incidents/${incident.id}/convene`, { method: "POST" });
    if (done) window.location.assign(`/meetings/${done.meeting_id}`);
  }

  async conveneAll(): Promise<void> {
    const title = zh ? "全区应急会商" : "District emergency briefing";
    const done = await api<{ meeting_id: number }>("/api/v1/emergency/convene-all", {
      method: "POST",
      body: JSON.stringify({ title }),
    });
    if (done) window.location.assign(`/meetings/${done.meeting_id}`);
  }

  private async renderTrends(): Promise<void> {
    const el = this.root.querySelector<HTMLElement>("[data-trends]");
    if (!el) return;
    const data = await api<{
      dates: string[];
      partial?: string[];
      series: { syndrome: string; name: string; name_en: string; counts: number[] }[];
    }>("/api/v1/surveillance/trends?days=90");
    if (!data) return;
    for (const s of data.series) this.syndromes.set(s.syndrome, zh ? s.name : s.name_en);
    if (!this.chart) {
      this.chart = echarts.init(el);
      new ResizeObserver(() => this.chart?.resize()).observe(el); // a wall layout sizes it
    }
    // Days still being counted (today) are drawn dashed, joined to the last complete day,
    // so an incomplete count does not read as a fall to zero.
    const partial = new Set(data.partial ?? []);
    const partialLabel = this.root.dataset.i18nPartial ?? "";
    const firstPartial = data.dates.findIndex((d) => partial.has(d));
    const cut = firstPartial < 0 ? data.dates.length : firstPartial;
    const series = data.series.flatMap((s) => {
      const name = zh ? s.name : s.name_en;
      const solid = s.counts.map((n, i) => (i < cut ? n : null));
      const line = { type: "line", name, smooth: true, showSymbol: false };
      if (cut >= data.dates.length) return [{ ...line, data: solid }];
      const dashed = s.counts.map((n, i) => (i >= cut - 1 ? n : null));
      return [{ ...line, data: solid }, { ...line, data: dashed, lineStyle: { type: "dashed", opacity: 0.6 }, tooltip: { show: false } }];
    });
    const wall = this.root.dataset.wall === "true";
    const ink = wall ? "#e8f4f5" : "#1b2b30";
    const axis = { axisLabel: { color: ink, fontSize: wall ? 15 : 12 }, axisLine: { lineStyle: { color: wall ? "#7fa9b1" : "#6b7f85" } } };
    this.chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0, textStyle: { color: ink, fontSize: wall ? 16 : 12 } },
      grid: { left: wall ? 56 : 40, right: 16, top: wall ? 44 : 36, bottom: 28 },
      xAxis: { type: "category", data: data.dates.map((d) => (partial.has(d) ? `${d} ${partialLabel}` : d)), ...axis },
      yAxis: { type: "value", ...axis, splitLine: { lineStyle: { color: wall ? "#1d4b58" : "#e3ecee" } } },
      series,
    });
    this.root.dataset.trendPartial = String(data.dates.length - cut);
  }

  start(): void {
    void this.refresh();
    window.setInterval(() => void this.refresh(), 30_000);
    window.addEventListener("resize", () => this.chart?.resize());
    this.root.querySelector("[data-action=convene-all]")?.addEventListener("click", () => void this.conveneAll());
    const clock = this.root.querySelector("[data-clock]");
    window.setInterval(() => {
      if (clock) clock.textContent = new Date().toLocaleString(zh ? "zh-CN" : "en-GB");
    }, 1000);
  }
}

if (root) {
  const room = new CommandRoom(root);
  (window as unknown as { yiyunCommand: CommandRoom }).yiyunCommand = room;
  room.start();
}
