// The statistics dashboard: figure cards with month-on-month and year-on-year change,
// a trend, a period comparison, a ranking of institutions and the district map (ECharts
// geo over the district's GeoJSON, sites sized by the figure, space-time clusters ringed).
// Every figure shows its definition on hover. Works on a phone and on a 2560 px wall.
import { BarChart, EffectScatterChart, LineChart, ScatterChart } from "echarts/charts";
import { GeoComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, BarChart, ScatterChart, EffectScatterChart, GeoComponent, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

interface MeasureInfo { code: string; label: string; definition: string; unit: string; kind: string }
interface Trend { measure: MeasureInfo; periods: string[]; values: number[] }
interface CompareRow {
  month: string; measure: string; label: string; unit: string; kind: string; definition: string;
  value: number; previous_month: number; same_month_last_year: number; mom_pct: number | null; yoy_pct: number | null;
}
interface SiteFig { id: number; name: string; name_en: string; kind: string; lon: number | null; lat: number | null; value: number }
interface ClusterInfo { id: number; syndrome: string; syndrome_name: string; start: string; end: string; observed: number; expected: number; p_value: number; radius_km: number; centre: SiteFig | null; sites: SiteFig[] }

const root = document.getElementById("stats") as HTMLElement | null;
const zh = document.documentElement.lang.startsWith("zh");

async function api<T>(path: string): Promise<T | null> {
  const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!res.ok) return null;
  return (await res.json()) as T;
}

function pct(v: number | null): string {
  return v === null ? "—" : `${v > 0 ? "▲" : v < 0 ? "▼" : ""}${Math.abs(v).toFixed(1)}%`;
}

function fmt(v: number, kind: string): string {
  if (kind === "ratio") return `${(v * 100).toFixed(1)}%`;
  return v.toLocaleString(zh ? "zh-CN" : "en-GB", { maximumFractionDigits: 1 });
}

function shift(month: string, by: number): string {
  const [y, m] = month.split("-").map(Number);
  const i = (y ?? 2000) * 12 + (m ?? 1) - 1 + by;
  return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, "0")}`;
}

function today(): Date {
  // the district's day (UTC+8), whatever the browser's zone
  return new Date(Date.now() + 8 * 3600_000);
}

function iso(d: Date): string {
  return d.toISOString().slice(0, 10);
}

class Dashboard {
  private charts = new Map<string, echarts.ECharts>();
  private readonly wall: boolean;
  private readonly all: boolean;
  private geoReady = false;

  constructor(private readonly root: HTMLElement) {
    this.wall = root.dataset.wall === "true";
    this.all = root.dataset.all === "true";
  }

  private get ink(): string { return this.wall ? "#e8f4f5" : "#1b2b30"; }

  private chart(name: string): echarts.ECharts | null {
    const el = this.root.querySelector<HTMLElement>(`[data-chart=${name}]`);
    if (!el) return null;
    let c = this.charts.get(name);
    if (!c) {
      c = echarts.init(el);
      this.charts.set(name, c);
      new ResizeObserver(() => c?.resize()).observe(el);
    }
    return c;
  }

  private get measure(): string {
    return this.root.querySelector<HTMLSelectElement>("[data-measure]")?.value ?? "meetings";
  }

  private get institution(): string {
    const sel = this.root.querySelector<HTMLSelectElement>("[data-institution-select]");
    return sel ? sel.value : this.root.dataset.institution ?? "";
  }

  private span(): { start: string; end: string; grain: string } {
    const value = this.root.querySelector<HTMLSelectElement>("[data-span]")?.value ?? "60m";
    const end = today();
    const start = new Date(end);
    if (value === "90d") { start.setUTCDate(start.getUTCDate() - 89); return { start: iso(start), end: iso(end), grain: "day" }; }
    const months = value === "12m" ? 11 : 59;
    start.setUTCDate(1);
    start.setUTCMonth(start.getUTCMonth() - months);
    return { start: iso(start), end: iso(end), grain: "month" };
  }

  private axis() {
    return {
      axisLabel: { color: this.ink, fontSize: this.wall ? 16 : 12 },
      axisLine: { lineStyle: { color: this.wall ? "#7fa9b1" : "#6b7f85" } },
      splitLine: { lineStyle: { color: this.wall ? "#1d4b58" : "#e3ecee" } },
    };
  }

  private inst(): string { return this.institution ? `&institution_id=${this.institution}` : ""; }

  async refresh(): Promise<void> {
    this.updateExports();
    await Promise.all([this.cards(), this.trend(), this.all ? this.ranking() : null, this.all ? this.map() : null]);
    this.root.dataset.ready = "true";
  }

  private updateExports(): void {
    const s = this.span();
    const q = `measure=${this.measure}&start=${s.start}&end=${s.end}&grain=${s.grain}${this.inst()}`;
    for (const a of this.root.querySelectorAll<HTMLAnchorElement>("[data-export]")) {
      const table = a.dataset.export;
      a.href = table === "compare"
        ? `/stats/export.xlsx?table=compare&month=${this.root.dataset.month}${this.inst()}`
        : table === "ranking"
          ? `/stats/export.xlsx?table=ranking&measure=${this.measure}`
          : `/stats/export.xlsx?table=trend&${q}`;
    }
  }

  private async cards(): Promise<void> {
    const box = this.root.querySelector("[data-cards]");
    const data = await api<{ rows: CompareRow[] }>(`/api/v1/stats/compare?month=${this.root.dataset.month}${this.inst()}`);
    if (!box || !data) return;
    const d = this.root.dataset;
    box.replaceChildren(...data.rows.map((r) => {
      const card = document.createElement("button");
      card.type = "button";
      card.className = "stat stat-card";
      card.dataset.measure = r.measure;
      card.title = r.definition;
      const value = document.createElement("div");
      value.className = "value";
      value.textContent = `${fmt(r.value, r.kind)}`;
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = r.kind === "ratio" ? "" : ` ${r.unit}`;
      value.append(unit);
      const label = document.createElement("div");
      label.className = "label";
      label.textContent = `${r.label} ⓘ`;
      const delta = document.createElement("div");
      delta.className = "delta";
      delta.textContent = r.mom_pct === null && r.yoy_pct === null
        ? d.i18nNone ?? ""
        : `${d.i18nMom} ${pct(r.mom_pct)} · ${d.i18nYoy} ${pct(r.yoy_pct)}`;
      card.append(value, label, delta);
      card.addEventListener("click", () => {
        const sel = this.root.querySelector<HTMLSelectElement>("[data-measure]");
        if (sel) { sel.value = r.measure; void this.refresh(); }
      });
      return card;
    }));
    const row = data.rows.find((r) => r.measure === this.measure);
    const c = this.chart("compare");
    if (row && c) {
      c.setOption({
        tooltip: { trigger: "axis", formatter: (p: { name: string; value: number }[]) => `${p[0]?.name}: ${fmt(p[0]?.value ?? 0, row.kind)} ${row.unit}<br><small>${row.definition}</small>` },
        grid: { left: this.wall ? 70 : 48, right: 16, top: 16, bottom: 30 },
        xAxis: { type: "category", data: [`${d.i18nLastYear} ${shift(row.month, -12)}`, `${d.i18nPrevMonth} ${shift(row.month, -1)}`, row.month], ...this.axis() },
        yAxis: { type: "value", ...this.axis() },
        series: [{ type: "bar", data: [row.same_month_last_year, row.previous_month, row.value], itemStyle: { color: "#1f6f8b" }, barWidth: "45%" }],
      }, true);
    }
  }

  private async trend(): Promise<void> {
    const s = this.span();
    const data = await api<Trend>(`/api/v1/stats/trend?measure=${this.measure}&start=${s.start}&end=${s.end}&grain=${s.grain}${this.inst()}`);
    const c = this.chart("trend");
    if (!data || !c) return;
    const def = this.root.querySelector("[data-def-of=trend]");
    if (def) { def.textContent = `${data.measure.label} (${data.measure.unit})`; (def as HTMLElement).title = data.measure.definition; }
    const ratio = data.measure.kind === "ratio";
    c.setOption({
      tooltip: { trigger: "axis", confine: true, formatter: (p: { name: string; value: number }[]) => `${p[0]?.name}: ${fmt(p[0]?.value ?? 0, data.measure.kind)} ${ratio ? "" : data.measure.unit}<br><small style="white-space:normal;display:inline-block;max-width:320px">${data.measure.definition}</small>` },
      grid: { left: this.wall ? 70 : 52, right: 16, top: 16, bottom: 30 },
      xAxis: { type: "category", data: data.periods, ...this.axis() },
      yAxis: { type: "value", ...this.axis(), axisLabel: { ...this.axis().axisLabel, formatter: ratio ? (v: number) => `${Math.round(v * 100)}%` : undefined } },
      series: [{ type: s.grain === "day" ? "line" : "bar", data: data.values, smooth: true, showSymbol: false, itemStyle: { color: "#0b6e79" }, areaStyle: s.grain === "day" ? { opacity: 0.12 } : undefined }],
    }, true);
  }

  private async ranking(): Promise<void> {
    const data = await api<{ measure: MeasureInfo; rows: { name: string; value: number }[] }>(`/api/v1/stats/ranking?measure=${this.measure}`);
    const c = this.chart("ranking");
    if (!data || !c) return;
    const rows = data.rows.slice(0, this.wall ? 20 : 15).reverse();
    c.setOption({
      tooltip: { trigger: "axis", confine: true, formatter: (p: { name: string; value: number }[]) => `${p[0]?.name}: ${fmt(p[0]?.value ?? 0, data.measure.kind)}<br><small style="white-space:normal;display:inline-block;max-width:300px">${data.measure.definition}</small>` },
      grid: { left: this.wall ? 220 : 150, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", ...this.axis() },
      yAxis: { type: "category", data: rows.map((r) => r.name), ...this.axis(), axisLabel: { ...this.axis().axisLabel, width: this.wall ? 210 : 140, overflow: "truncate" } },
      series: [{ type: "bar", data: rows.map((r) => r.value), itemStyle: { color: "#1f6f8b" } }],
    }, true);
  }

  private async map(): Promise<void> {
    const c = this.chart("map");
    if (!c) return;
    if (!this.geoReady) {
      const geo = await api<object>("/api/v1/stats/geo");
      if (!geo) return;
      echarts.registerMap("district", geo as Parameters<typeof echarts.registerMap>[1]);
      this.geoReady = true;
    }
    const [data, cl] = await Promise.all([
      api<{ measure: MeasureInfo; sites: SiteFig[] }>(`/api/v1/stats/map?measure=${this.measure}`),
      api<{ clusters: ClusterInfo[] }>("/api/v1/stats/clusters?days=30"),
    ]);
    if (!data) return;
    const top = Math.max(1, ...data.sites.map((s) => s.value));
    const placed = data.sites.filter((s) => s.lon !== null && s.lat !== null);
    const clusters = cl?.clusters ?? [];
    const inCluster = new Set(clusters.flatMap((k) => k.sites.map((s) => s.id)));
    c.setOption({
      tooltip: { trigger: "item", confine: true },
      geo: {
        map: "district", roam: true, nameProperty: "name",
        label: { show: true, color: this.wall ? "#a9c7cd" : "#5d6b7a", fontSize: this.wall ? 15 : 10 },
        itemStyle: { areaColor: this.wall ? "#0f2a33" : "#eef5f6", borderColor: this.wall ? "#3b7f8c" : "#9bb7bd" },
        emphasis: { itemStyle: { areaColor: this.wall ? "#174452" : "#d9ecee" }, label: { show: true } },
      },
      series: [
        {
          type: "scatter", coordinateSystem: "geo", name: data.measure.label,
          data: placed.map((s) => ({ name: zh ? s.name : s.name_en, value: [s.lon, s.lat, s.value], kind: s.kind })),
          symbolSize: (v: number[]) => 6 + 22 * Math.sqrt((v[2] ?? 0) / top),
          itemStyle: { color: (p: { dataIndex: number }) => (inCluster.has(placed[p.dataIndex]?.id ?? -1) ? "#c0392b" : "#0b6e79"), opacity: 0.85 },
          tooltip: { formatter: (p: { name: string; value: number[] }) => `${p.name}<br>${data.measure.label}: ${fmt(p.value[2] ?? 0, data.measure.kind)}` },
        },
        {
          type: "effectScatter", coordinateSystem: "geo", name: this.root.dataset.i18nClusters,
          data: clusters.filter((k) => k.centre && k.centre.lon !== null).map((k) => ({
            name: `${k.syndrome} · ${k.start}–${k.end}`,
            value: [k.centre!.lon, k.centre!.lat, k.observed],
            detail: `${this.root.dataset.i18nSites}: ${k.sites.map((s) => (zh ? s.name : s.name_en)).join("、")}<br>O/E ${k.observed}/${k.expected.toFixed(1)} · p=${k.p_value}`,
          })),
          symbolSize: 34, rippleEffect: { scale: 3, brushType: "stroke" }, itemStyle: { color: "#e67e22" },
          tooltip: { formatter: (p: { name: string; data: { detail: string } }) => `${p.name}<br>${p.data.detail}` },
        },
      ],
    }, true);
    const list = this.root.querySelector("[data-clusters]");
    if (list) {
      list.replaceChildren(...clusters.map((k) => {
        const li = document.createElement("li");
        li.dataset.cluster = String(k.id);
        li.textContent = `${k.syndrome_name} · ${k.start} – ${k.end} · ${k.sites.length} ${this.root.dataset.i18nSites} · ${k.observed}/${k.expected.toFixed(1)} · p = ${k.p_value}`;
        return li;
      }));
    }
  }

  start(): void {
    this.root.querySelector("[data-filters]")?.addEventListener("submit", (e) => e.preventDefault());
    void this.refresh();
    for (const sel of this.root.querySelectorAll("select")) sel.addEventListener("change", () => void this.refresh());
    window.setInterval(() => void this.refresh(), this.wall ? 60_000 : 300_000);
    const clock = this.root.querySelector("[data-clock]");
    window.setInterval(() => { if (clock) clock.textContent = new Date().toLocaleString(zh ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai" }); }, 1000);
  }
}

if (root) {
  const board = new Dashboard(root);
  (window as unknown as { yiyunStats: Dashboard }).yiyunStats = board;
  board.start();
}
