// Annotation over a shared screen: a transparent canvas over every screen-share tile of
// the call page, bound to the meeting's "screen-annotation" Yjs document. Marks are
// stored in frame units (0..1000 on both axes of the video picture), so they stay on
// the same spot of the shared screen at any tile size. The presenter (whoever is
// sharing) and the chair can clear them.

import { drawElement } from "./board/draw";
import { BoardModel, newId, type Element } from "./board/model";

const FRAME = 1000;
type Kind = "pen" | "arrow" | "ellipse" | "text";

function t(root: HTMLElement, key: string): string {
  const camel = "i18n" + key.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
  return root.dataset[camel] ?? key;
}

class Overlay {
  readonly canvas = document.createElement("canvas");
  readonly bar = document.createElement("div");
  private tool: Kind = "pen";
  private on = false;
  private draft: Element | null = null;

  constructor(private readonly a: Annotator, readonly tile: HTMLElement, readonly video: HTMLVideoElement) {
    this.canvas.className = "annotate-layer";
    this.canvas.dataset.annotateLayer = "";
    this.bar.className = "annotate-bar";
    const toggle = this.button(t(a.cfg, "annotate"), () => this.toggle());
    toggle.dataset.annotateToggle = "";
    this.bar.append(toggle);
    if (!a.readonly) {
      for (const k of ["pen", "arrow", "ellipse", "text"] as Kind[]) {
        const b = this.button(t(a.cfg, k), () => this.pick(k));
        b.dataset.annotateTool = k;
        b.hidden = true;
      }
      if (a.cfg.dataset.chair === "true") {
        const c = this.button(t(a.cfg, "clear"), () => a.clear());
        c.dataset.annotateClear = "";
        c.hidden = true;
      }
    } else toggle.hidden = true;
    tile.append(this.canvas, this.bar);
    this.canvas.addEventListener("pointerdown", (ev) => this.down(ev));
    this.canvas.addEventListener("pointermove", (ev) => this.move(ev));
    this.canvas.addEventListener("pointerup", () => this.up());
    new ResizeObserver(() => this.paint()).observe(tile);
    video.addEventListener("resize", () => this.paint());
    this.paint();
  }

  private button(label: string, fn: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small secondary";
    b.textContent = label;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      fn();
    });
    this.bar.append(b);
    return b;
  }

  private toggle(): void {
    this.on = !this.on;
    this.canvas.classList.toggle("drawing", this.on);
    for (const b of this.bar.querySelectorAll<HTMLElement>("[data-annotate-tool], [data-annotate-clear]")) b.hidden = !this.on;
    const toggle = this.bar.querySelector<HTMLElement>("[data-annotate-toggle]")!;
    toggle.textContent = t(this.a.cfg, this.on ? "stop" : "annotate");
    toggle.setAttribute("aria-pressed", String(this.on));
    this.pick(this.tool);
  }

  private pick(k: Kind): void {
    this.tool = k;
    for (const b of this.bar.querySelectorAll<HTMLElement>("[data-annotate-tool]")) b.setAttribute("aria-pressed", String(b.dataset.annotateTool === k));
  }

  /** The picture's box inside the tile (the video is letterboxed: object-fit contain). */
  private frame(): { x: number; y: number; w: number; h: number } {
    const tr = this.tile.getBoundingClientRect();
    const vr = this.video.getBoundingClientRect();
    const vw = this.video.videoWidth || 16, vh = this.video.videoHeight || 9;
    const scale = Math.min(vr.width / vw, vr.height / vh);
    const w = vw * scale, h = vh * scale;
    return { x: vr.left - tr.left + (vr.width - w) / 2, y: vr.top - tr.top + (vr.height - h) / 2, w, h };
  }

  private toFrame(ev: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    const f = this.frame();
    return { x: Math.round(((ev.clientX - r.left - f.x) / f.w) * FRAME), y: Math.round(((ev.clientY - r.top - f.y) / f.h) * FRAME) };
  }

  private down(ev: PointerEvent): void {
    if (!this.on || this.a.readonly) return;
    this.canvas.setPointerCapture(ev.pointerId);
    const p = this.toFrame(ev);
    const base = { id: newId(), page: "screen", x: p.x, y: p.y, w: 0, h: 0, color: "#ef4444", width: 4, author: this.a.userId, z: Date.now() };
    if (this.tool === "text") {
      const text = window.prompt(t(this.a.cfg, "text-prompt"));
      if (text) this.a.model.put({ ...base, type: "text", text, color: "#facc15" });
      return;
    }
    this.draft = this.tool === "pen" ? { ...base, type: "pen", points: [p.x, p.y] } : { ...base, type: this.tool };
  }

  private move(ev: PointerEvent): void {
    if (!this.draft) return;
    const p = this.toFrame(ev);
    if (this.draft.type === "pen") this.draft.points!.push(p.x, p.y);
    else {
      this.draft.w = p.x - this.draft.x;
      this.draft.h = p.y - this.draft.y;
    }
    this.paint();
  }

  private up(): void {
    const d = this.draft;
    this.draft = null;
    if (d && (d.type === "pen" || Math.abs(d.w) + Math.abs(d.h) > 4)) this.a.model.put(d);
    this.paint();
  }

  paint(): void {
    const rect = this.tile.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(rect.width * dpr));
    this.canvas.height = Math.max(1, Math.round(rect.height * dpr));
    const ctx = this.canvas.getContext("2d")!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const f = this.frame();
    const sx = (f.w / FRAME) * dpr, sy = (f.h / FRAME) * dpr;
    ctx.setTransform(sx, 0, 0, sy, f.x * dpr, f.y * dpr);
    const els = this.a.marks();
    for (const e of this.draft ? [...els, this.draft] : els) drawElement(ctx, { ...e, width: e.width / Math.min(sx, sy) * dpr * 0.5 }, () => this.paint());
    this.canvas.dataset.count = String(els.length);
  }
}

class Annotator {
  readonly model: BoardModel;
  readonly readonly: boolean;
  readonly userId: string;
  private overlays = new Map<HTMLElement, Overlay>();

  constructor(readonly cfg: HTMLElement, private readonly call: HTMLElement) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.model = new BoardModel(`${proto}//${location.host}${cfg.dataset.ws}`, cfg.dataset.key ?? "");
    this.readonly = cfg.dataset.readonly === "true";
    this.userId = cfg.dataset.userId ?? "";
    this.model.provider.awareness.setLocalState(null);
    this.model.elements.observe(() => this.paint());
    new MutationObserver(() => this.scan()).observe(call, { subtree: true, childList: true, attributes: true, attributeFilter: ["class", "hidden"] });
    this.scan();
  }

  marks(): Element[] {
    return this.model.onPage("screen");
  }

  clear(): void {
    const ids = this.marks().map((e) => e.id);
    this.model.edit(() => {
      for (const id of ids) this.model.elements.delete(id);
      this.model.meta.set("cleared_by", this.userId);
      this.model.meta.set("cleared_at", Date.now());
    });
  }

  private scan(): void {
    for (const [tile, o] of this.overlays) {
      if (!tile.isConnected || !tile.classList.contains("screen")) {
        o.canvas.remove();
        o.bar.remove();
        this.overlays.delete(tile);
      }
    }
    for (const tile of this.call.querySelectorAll<HTMLElement>(".tile.screen")) {
      const video = tile.querySelector("video");
      if (video && !this.overlays.has(tile)) this.overlays.set(tile, new Overlay(this, tile, video));
    }
    this.presenter();
  }

  /** While we share our screen, the sharing banner says how many marks others made and
   * offers to clear them (we do not see our own screen as a tile). */
  private presenter(): void {
    const banner = this.call.querySelector<HTMLElement>("[data-presenting]");
    if (!banner) return;
    let box = banner.querySelector<HTMLElement>("[data-annotate-presenter]");
    if (!box) {
      box = document.createElement("span");
      box.dataset.annotatePresenter = "";
      box.className = "annotate-presenter";
      const count = document.createElement("span");
      count.dataset.annotateCount = "";
      const clear = document.createElement("button");
      clear.type = "button";
      clear.className = "small secondary";
      clear.textContent = t(this.cfg, "clear");
      clear.dataset.annotateClear = "";
      clear.addEventListener("click", () => this.clear());
      box.append(count, clear);
      banner.append(box);
    }
    const n = this.marks().length;
    const count = box.querySelector<HTMLElement>("[data-annotate-count]")!;
    const text = t(this.cfg, "marks").replace("{count}", String(n));
    // Only a change is written: the call's MutationObserver calls back here, and writing
    // the same text again would be a mutation too (an endless loop on the main thread).
    if (count.textContent !== text) count.textContent = text;
  }

  private paint(): void {
    for (const o of this.overlays.values()) o.paint();
    this.presenter();
  }
}

const cfg = document.querySelector<HTMLElement>("[data-annotate]");
const call = document.getElementById("call");
if (cfg && call) (window as unknown as { yiyunAnnotate: Annotator }).yiyunAnnotate = new Annotator(cfg, call);
