// The whiteboard: a canvas bound to the Yjs document, tools, presence and follow.

import { drawElement, hit, moved, bounds } from "./draw";
import { download, pdf, renderPage } from "./exporter";
import { BoardModel, newId, type Element, type Presence, type Tool, type View } from "./model";

const COLORS = ["#111827", "#dc2626", "#2563eb", "#16a34a", "#f59e0b", "#9333ea"];
const MAX_IMAGE_SIDE = 1280;

function t(root: HTMLElement, key: string): string {
  const camel = "i18n" + key.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
  return root.dataset[camel] ?? key;
}

export class Board {
  readonly model: BoardModel;
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private view: View = { x: 0, y: 0, zoom: 1, page: "p1" };
  private tool: Tool = "pen";
  private color = COLORS[0]!;
  private width = 3;
  private draft: Element | null = null;
  private selected: string | null = null;
  private dragFrom: { x: number; y: number; sx: number; sy: number; pan: boolean } | null = null;
  private laser: { x: number; y: number; t: number }[] = [];
  private following = false;
  private frame = 0;
  readonly readonly: boolean;
  readonly me: { id: string; name: string; color: string };

  constructor(private readonly root: HTMLElement) {
    this.readonly = root.dataset.readonly === "true";
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.model = new BoardModel(`${proto}//${location.host}${root.dataset.ws}`, root.dataset.key ?? "");
    this.me = {
      id: root.dataset.userId ?? "",
      name: root.dataset.userName ?? "",
      color: COLORS[(Number(root.dataset.userId) || 0) % COLORS.length]!,
    };
    this.canvas = root.querySelector<HTMLCanvasElement>("[data-board-canvas]")!;
    this.ctx = this.canvas.getContext("2d")!;
    this.awareness.setLocalState({ user: this.me, cursor: null, laser: null, view: this.view } satisfies Presence);
    this.model.elements.observe(() => this.redraw());
    this.model.pages.observe(() => this.renderPages());
    this.model.meta.observe(() => this.renderFollow());
    this.awareness.on("change", () => this.onPresence());
    this.model.provider.on("sync", (synced: boolean) => {
      if (synced) this.firstSync();
    });
    this.model.provider.on("status", (ev: { status: string }) => {
      root.dataset.status = ev.status;
      const s = root.querySelector<HTMLElement>("[data-board-status]");
      if (s) s.textContent = t(root, ev.status === "connected" ? "connected" : "reconnecting");
    });
    this.model.undo.on("stack-item-added", () => this.renderUndo());
    this.model.undo.on("stack-item-popped", () => this.renderUndo());
    this.bindToolbar();
    this.bindPointer();
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement!);
    this.resize();
    if (this.readonly) root.classList.add("readonly");
  }

  get awareness() {
    return this.model.provider.awareness;
  }

  private firstSync(): void {
    if (!this.model.pages.length && !this.readonly) {
      this.model.edit(() => this.model.pages.push([{ id: "p1", name: "1" }]));
    }
    const first = this.model.pageList()[0];
    if (first && !this.model.pageList().some((p) => p.id === this.view.page)) this.view.page = first.id;
    this.root.dataset.synced = "true";
    this.renderPages();
    this.renderFollow();
    this.redraw();
  }

  // --- toolbar ------------------------------------------------------------
  private bindToolbar(): void {
    const r = this.root;
    for (const b of r.querySelectorAll<HTMLButtonElement>("[data-tool]")) {
      b.addEventListener("click", () => this.setTool(b.dataset.tool as Tool));
    }
    const colors = r.querySelector<HTMLElement>("[data-colors]");
    if (colors) {
      for (const c of COLORS) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "swatch";
        b.style.background = c;
        b.dataset.color = c;
        b.setAttribute("aria-label", `${t(r, "colour")} ${c}`);
        b.setAttribute("aria-pressed", String(c === this.color));
        b.addEventListener("click", () => {
          this.color = c;
          for (const s of colors.querySelectorAll("button")) s.setAttribute("aria-pressed", String(s === b));
        });
        colors.append(b);
      }
    }
    r.querySelector<HTMLSelectElement>("[data-width]")?.addEventListener("change", (ev) => {
      this.width = Number((ev.target as HTMLSelectElement).value) || 3;
    });
    r.querySelector("[data-act=undo]")?.addEventListener("click", () => this.model.undo.undo());
    r.querySelector("[data-act=redo]")?.addEventListener("click", () => this.model.undo.redo());
    r.querySelector("[data-act=add-page]")?.addEventListener("click", () => this.addPage());
    r.querySelector<HTMLSelectElement>("[data-pages]")?.addEventListener("change", (ev) => {
      this.goto({ ...this.view, page: (ev.target as HTMLSelectElement).value });
    });
    r.querySelector("[data-act=present]")?.addEventListener("click", () => this.present());
    r.querySelector("[data-act=follow]")?.addEventListener("click", () => {
      this.following = !this.following;
      this.renderFollow();
      this.onPresence();
    });
    r.querySelector("[data-act=png]")?.addEventListener("click", () => this.exportPng());
    r.querySelector("[data-act=pdf]")?.addEventListener("click", () => this.exportPdf());
    r.querySelector("[data-act=zoom-in]")?.addEventListener("click", () => this.zoomBy(1.25));
    r.querySelector("[data-act=zoom-out]")?.addEventListener("click", () => this.zoomBy(0.8));
    r.querySelector<HTMLInputElement>("[data-image-file]")?.addEventListener("change", (ev) => {
      const input = ev.target as HTMLInputElement;
      const file = input.files?.[0];
      if (file) void this.addImage(file);
      input.value = "";
    });
    document.addEventListener("keydown", (ev) => {
      if (!this.root.isConnected || this.root.closest("[hidden]")) return;
      const target = ev.target as HTMLElement;
      if (target.matches("input, textarea, select")) return;
      if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") {
        ev.preventDefault();
        if (ev.shiftKey) this.model.undo.redo();
        else this.model.undo.undo();
      } else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "y") {
        ev.preventDefault();
        this.model.undo.redo();
      } else if ((ev.key === "Delete" || ev.key === "Backspace") && this.selected && !this.readonly) {
        this.model.remove([this.selected]);
        this.selected = null;
      }
    });
    this.setTool(this.readonly ? "laser" : "pen");
    this.renderUndo();
  }

  setTool(tool: Tool): void {
    if (this.readonly && tool !== "laser" && tool !== "select") return;
    if (tool === "image") {
      this.root.querySelector<HTMLInputElement>("[data-image-file]")?.click();
      return;
    }
    this.tool = tool;
    this.selected = null;
    for (const b of this.root.querySelectorAll<HTMLButtonElement>("[data-tool]")) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    }
    this.canvas.dataset.activeTool = tool;
    this.redraw();
  }

  private renderUndo(): void {
    const u = this.root.querySelector<HTMLButtonElement>("[data-act=undo]");
    const r = this.root.querySelector<HTMLButtonElement>("[data-act=redo]");
    if (u) u.disabled = this.readonly || !this.model.undo.canUndo();
    if (r) r.disabled = this.readonly || !this.model.undo.canRedo();
  }

  private renderPages(): void {
    const sel = this.root.querySelector<HTMLSelectElement>("[data-pages]");
    if (!sel) return;
    const pages = this.model.pageList();
    sel.replaceChildren(
      ...pages.map((p, i) => {
        const o = document.createElement("option");
        o.value = p.id;
        o.textContent = `${t(this.root, "page")} ${i + 1}`;
        o.selected = p.id === this.view.page;
        return o;
      }),
    );
  }

  private addPage(): void {
    if (this.readonly) return;
    const id = newId();
    const n = this.model.pageList().length + 1;
    this.model.edit(() => this.model.pages.push([{ id, name: String(n) }]));
    this.goto({ ...this.view, page: id, x: 0, y: 0 });
  }

  private present(): void {
    if (this.readonly) return;
    const mine = this.model.meta.get("presenter") === this.me.id;
    this.model.doc.transact(() => this.model.meta.set("presenter", mine ? null : this.me.id));
  }

  private renderFollow(): void {
    const presenter = this.model.meta.get("presenter") as string | null | undefined;
    const present = this.root.querySelector<HTMLButtonElement>("[data-act=present]");
    const follow = this.root.querySelector<HTMLButtonElement>("[data-act=follow]");
    if (present) {
      present.setAttribute("aria-pressed", String(presenter === this.me.id));
      present.disabled = this.readonly;
    }
    if (follow) {
      follow.disabled = !presenter || presenter === this.me.id;
      follow.setAttribute("aria-pressed", String(this.following && !follow.disabled));
    }
  }

  private goto(view: View): void {
    this.view = view;
    this.awareness.setLocalStateField("view", view);
    this.renderPages();
    this.redraw();
  }

  private zoomBy(f: number, cx = this.canvas.clientWidth / 2, cy = this.canvas.clientHeight / 2): void {
    const zoom = Math.min(8, Math.max(0.1, this.view.zoom * f));
    const bx = this.view.x + cx / this.view.zoom;
    const by = this.view.y + cy / this.view.zoom;
    this.goto({ ...this.view, zoom, x: bx - cx / zoom, y: by - cy / zoom });
  }

  // --- presence -------------------------------------------------------------
  private others(): [number, Presence][] {
    const out: [number, Presence][] = [];
    this.awareness.getStates().forEach((state, client) => {
      if (client !== this.model.doc.clientID && state.user) out.push([client, state as Presence]);
    });
    return out;
  }

  private onPresence(): void {
    const list = this.root.querySelector<HTMLElement>("[data-presence]");
    const others = this.others();
    if (list) {
      list.replaceChildren(
        ...others.map(([, p]) => {
          const li = document.createElement("li");
          li.textContent = p.user!.name;
          li.style.borderColor = p.user!.color;
          return li;
        }),
      );
    }
    const presenter = this.model.meta.get("presenter");
    if (this.following && presenter) {
      const lead = others.find(([, p]) => p.user?.id === presenter)?.[1];
      if (lead?.view) {
        const v = lead.view;
        if (v.page !== this.view.page || v.x !== this.view.x || v.y !== this.view.y || v.zoom !== this.view.zoom) {
          this.view = { ...v };
          this.renderPages();
        }
      }
    }
    this.redraw();
  }

  // --- pointer --------------------------------------------------------------
  private toBoard(ev: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: this.view.x + (ev.clientX - r.left) / this.view.zoom, y: this.view.y + (ev.clientY - r.top) / this.view.zoom };
  }

  private topAt(x: number, y: number): Element | null {
    const els = this.model.onPage(this.view.page);
    for (let i = els.length - 1; i >= 0; i--) if (hit(els[i]!, x, y, 6 / this.view.zoom)) return els[i]!;
    return null;
  }

  private bindPointer(): void {
    const c = this.canvas;
    c.addEventListener("pointerdown", (ev) => this.down(ev));
    c.addEventListener("pointermove", (ev) => this.move(ev));
    c.addEventListener("pointerup", (ev) => this.up(ev));
    c.addEventListener("pointercancel", () => {
      this.draft = null;
      this.dragFrom = null;
      this.redraw();
    });
    c.addEventListener("pointerleave", () => this.awareness.setLocalStateField("cursor", null));
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = c.getBoundingClientRect();
      if (ev.ctrlKey || ev.metaKey) this.zoomBy(ev.deltaY < 0 ? 1.1 : 0.9, ev.clientX - r.left, ev.clientY - r.top);
      else this.goto({ ...this.view, x: this.view.x + ev.deltaX / this.view.zoom, y: this.view.y + ev.deltaY / this.view.zoom });
    }, { passive: false });
  }

  private down(ev: PointerEvent): void {
    this.canvas.setPointerCapture(ev.pointerId);
    const p = this.toBoard(ev);
    const pan = ev.button === 1 || (this.tool === "select" && !this.topAt(p.x, p.y)) || (this.readonly && this.tool !== "laser");
    this.dragFrom = { x: p.x, y: p.y, sx: ev.clientX, sy: ev.clientY, pan };
    if (pan) return;
    const base = { id: newId(), page: this.view.page, x: p.x, y: p.y, w: 0, h: 0, color: this.color, width: this.width, author: this.me.id, z: Date.now() };
    switch (this.tool) {
      case "pen":
        this.draft = { ...base, type: "pen", points: [round(p.x), round(p.y)] };
        break;
      case "rect": case "ellipse": case "line": case "arrow":
        this.draft = { ...base, type: this.tool };
        break;
      case "text": case "note": {
        const text = window.prompt(t(this.root, this.tool === "note" ? "note-prompt" : "text-prompt"));
        this.dragFrom = null;
        if (text) {
          const el: Element = this.tool === "note" ? { ...base, type: "note", w: 180, h: 140, text } : { ...base, type: "text", text };
          this.model.put(el);
        }
        break;
      }
      case "eraser":
        this.erase(p.x, p.y);
        break;
      case "select":
        this.selected = this.topAt(p.x, p.y)?.id ?? null;
        this.redraw();
        break;
      case "laser":
        this.laserAt(p.x, p.y);
        break;
    }
  }

  private move(ev: PointerEvent): void {
    const p = this.toBoard(ev);
    this.awareness.setLocalStateField("cursor", { x: round(p.x), y: round(p.y), page: this.view.page });
    const from = this.dragFrom;
    if (!from) return;
    if (from.pan) {
      const dx = (ev.clientX - from.sx) / this.view.zoom;
      const dy = (ev.clientY - from.sy) / this.view.zoom;
      from.sx = ev.clientX;
      from.sy = ev.clientY;
      this.goto({ ...this.view, x: this.view.x - dx, y: this.view.y - dy });
      return;
    }
    if (this.tool === "eraser") this.erase(p.x, p.y);
    else if (this.tool === "laser") this.laserAt(p.x, p.y);
    else if (this.draft?.type === "pen") {
      const pts = this.draft.points!;
      const lx = pts[pts.length - 2]!, ly = pts[pts.length - 1]!;
      if (Math.hypot(p.x - lx, p.y - ly) * this.view.zoom >= 2) pts.push(round(p.x), round(p.y));
      this.redraw();
    } else if (this.draft) {
      this.draft.w = p.x - this.draft.x;
      this.draft.h = p.y - this.draft.y;
      this.redraw();
    } else if (this.tool === "select" && this.selected) {
      this.redraw(p.x - from.x, p.y - from.y);
    }
  }

  private up(ev: PointerEvent): void {
    const p = this.toBoard(ev);
    const from = this.dragFrom;
    this.dragFrom = null;
    if (this.draft) {
      const d = this.draft;
      this.draft = null;
      const tiny = d.type !== "pen" && Math.abs(d.w) < 3 && Math.abs(d.h) < 3;
      if (!tiny) this.model.put(d);
      this.redraw();
    } else if (this.tool === "select" && this.selected && from && !from.pan) {
      const e = this.model.elements.get(this.selected);
      if (e && (p.x !== from.x || p.y !== from.y)) this.model.put(moved(e, round(p.x - from.x), round(p.y - from.y)));
    } else if (this.tool === "laser") {
      setTimeout(() => {
        this.laser = [];
        this.awareness.setLocalStateField("laser", null);
      }, 1200);
    }
  }

  private erase(x: number, y: number): void {
    const tol = 8 / this.view.zoom;
    const gone = this.model.onPage(this.view.page).filter((e) => hit(e, x, y, tol)).map((e) => e.id);
    this.model.remove(gone);
  }

  private laserAt(x: number, y: number): void {
    const now = Date.now();
    this.laser = [...this.laser.filter((p) => now - p.t < 1000), { x: round(x), y: round(y), t: now }].slice(-30);
    this.awareness.setLocalStateField("laser", this.laser);
    this.redraw();
  }

  private async addImage(file: File): Promise<void> {
    if (this.readonly || !file.type.startsWith("image/")) return;
    const bitmap = await createImageBitmap(file);
    const f = Math.min(1, MAX_IMAGE_SIDE / Math.max(bitmap.width, bitmap.height));
    const c = document.createElement("canvas");
    c.width = Math.round(bitmap.width * f);
    c.height = Math.round(bitmap.height * f);
    c.getContext("2d")!.drawImage(bitmap, 0, 0, c.width, c.height);
    const src = c.toDataURL("image/jpeg", 0.85);
    const w = Math.min(480, c.width);
    const h = (w * c.height) / c.width;
    const cx = this.view.x + this.canvas.clientWidth / 2 / this.view.zoom;
    const cy = this.view.y + this.canvas.clientHeight / 2 / this.view.zoom;
    this.model.put({ id: newId(), page: this.view.page, type: "image", x: round(cx - w / 2), y: round(cy - h / 2), w, h, src, color: this.color, width: 1, author: this.me.id, z: Date.now() });
    this.setTool("select");
  }

  // --- export ---------------------------------------------------------------
  private fileName(ext: string): string {
    return `${this.root.dataset.exportName || "whiteboard"}.${ext}`;
  }

  private exportPng(): void {
    renderPage(this.model.onPage(this.view.page)).toBlob((b) => b && download(b, this.fileName("png")), "image/png");
  }

  private exportPdf(): void {
    const pages = this.model.pageList().map((p) => renderPage(this.model.onPage(p.id)));
    download(pdf(pages.length ? pages : [renderPage([])]), this.fileName("pdf"));
  }

  // --- drawing --------------------------------------------------------------
  private resize(): void {
    const parent = this.canvas.parentElement!;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.floor(parent.clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.floor(parent.clientHeight * dpr));
    this.canvas.style.width = `${parent.clientWidth}px`;
    this.canvas.style.height = `${parent.clientHeight}px`;
    this.redraw();
  }

  redraw(dx = 0, dy = 0): void {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.paint(dx, dy));
  }

  private paint(dx: number, dy: number): void {
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const z = this.view.zoom * dpr;
    ctx.setTransform(z, 0, 0, z, -this.view.x * z, -this.view.y * z);
    const redraw = () => this.redraw();
    let count = 0;
    for (const e of this.model.onPage(this.view.page)) {
      const el = e.id === this.selected && (dx || dy) ? moved(e, dx, dy) : e;
      drawElement(ctx, el, redraw);
      count++;
      if (e.id === this.selected) {
        const [x0, y0, x1, y1] = bounds(el);
        ctx.save();
        ctx.strokeStyle = "#2563eb";
        ctx.setLineDash([6 / this.view.zoom, 4 / this.view.zoom]);
        ctx.lineWidth = 1 / this.view.zoom;
        ctx.strokeRect(x0 - 4, y0 - 4, x1 - x0 + 8, y1 - y0 + 8);
        ctx.restore();
      }
    }
    if (this.draft) drawElement(ctx, this.draft, redraw);
    this.canvas.dataset.count = String(count);
    const now = Date.now();
    const lasers: [string, { x: number; y: number; t: number }[]][] = [["#ef4444", this.laser]];
    const cursors: string[] = [];
    for (const [, p] of this.others()) {
      if (p.laser) lasers.push(["#ef4444", p.laser]);
      const cur = p.cursor;
      if (cur && cur.page === this.view.page && p.user) {
        cursors.push(p.user.name);
        ctx.save();
        ctx.fillStyle = p.user.color;
        ctx.beginPath();
        const s = 1 / this.view.zoom;
        ctx.moveTo(cur.x, cur.y);
        ctx.lineTo(cur.x + 12 * s, cur.y + 16 * s);
        ctx.lineTo(cur.x + 4 * s, cur.y + 15 * s);
        ctx.closePath();
        ctx.fill();
        ctx.font = `${12 * s}px system-ui, "Noto Sans CJK SC", sans-serif`;
        const w = ctx.measureText(p.user.name).width;
        ctx.fillRect(cur.x + 12 * s, cur.y + 16 * s, w + 8 * s, 16 * s);
        ctx.fillStyle = "#ffffff";
        ctx.textBaseline = "top";
        ctx.fillText(p.user.name, cur.x + 16 * s, cur.y + 18 * s);
        ctx.restore();
      }
    }
    this.root.dataset.cursors = cursors.join(",");
    let fading = false;
    for (const [color, trail] of lasers) {
      const live = trail.filter((q) => now - q.t < 1000);
      if (live.length < 1) continue;
      fading = true;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.shadowColor = color;
      ctx.shadowBlur = 8;
      ctx.lineWidth = 4 / this.view.zoom;
      ctx.lineCap = "round";
      ctx.beginPath();
      live.forEach((q, i) => (i ? ctx.lineTo(q.x, q.y) : ctx.moveTo(q.x, q.y)));
      if (live.length === 1) ctx.lineTo(live[0]!.x + 0.1, live[0]!.y);
      ctx.stroke();
      ctx.restore();
    }
    if (fading) this.redraw();
  }
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
