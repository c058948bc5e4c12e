// DICOM viewer with live co-reading. Frames are rendered by the server (window/level,
// PNG); this island draws them on a canvas with zoom/pan, scrolls the series, draws the
// marks in image coordinates and keeps the room in step over /ws/imaging/{study}.

type Pt = [number, number];
interface Inst { sop_uid: string; frames: number; rows: number; columns: number }
interface Series { series_uid: string; instances: Inst[] }
interface Mark {
  id: number | string; kind: string; sop_uid: string; frame: number; points: Pt[];
  text: string; measurement: Record<string, number>; author: string; source: string;
  author_id?: number; saved?: boolean;
}
interface Viewport {
  series_uid: string; index: number; frame: number; centre: number; width: number;
  zoom: number; pan_x: number; pan_y: number;
}
interface Who { user_id: number; name: string }

const PRESETS: Record<string, [number, number]> = {
  soft: [40, 400], lung: [-600, 1500], mediastinum: [50, 350], bone: [400, 1800], brain: [40, 80],
};

const viewerRoot = document.getElementById("viewer");
if (viewerRoot) start(viewerRoot);

function start(root: HTMLElement): void {
  const studyId = Number(root.dataset.study);
  const meeting = root.dataset.meeting ?? "";
  const me = Number(root.dataset.me);
  const canMark = root.dataset.canMark === "true";
  const series = JSON.parse(root.dataset.series ?? "[]") as Series[];
  const t = JSON.parse(root.dataset.i18n ?? "{}") as Record<string, string> & { kinds?: Record<string, string> };
  const csrf = document.querySelector<HTMLMetaElement>("meta[name=csrf-token]")?.content ?? "";
  const canvas = root.querySelector<HTMLCanvasElement>("[data-canvas]")!;
  const ctx2d = canvas.getContext("2d")!;
  const slice = root.querySelector<HTMLInputElement>("[data-slice]")!;
  const sliceLabel = root.querySelector<HTMLElement>("[data-slice-label]")!;
  const centreIn = root.querySelector<HTMLInputElement>("[data-centre]")!;
  const widthIn = root.querySelector<HTMLInputElement>("[data-width]")!;
  const markList = root.querySelector<HTMLElement>("[data-marks]")!;
  const presence = root.querySelector<HTMLElement>("[data-presence]")!;
  const followBtn = root.querySelector<HTMLButtonElement>("[data-follow]")!;
  const textIn = root.querySelector<HTMLInputElement>("[data-mark-text]");
  const saveStatus = root.querySelector<HTMLElement>("[data-save-status]")!;

  const vp: Viewport = {
    series_uid: series[0]?.series_uid ?? "", index: 0, frame: 1,
    centre: 40, width: 400, zoom: 1, pan_x: 0, pan_y: 0,
  };
  let tool = "pan";
  let marks: Mark[] = [];
  let presenter: Who | null = null;
  let following = true;
  let image: HTMLImageElement | null = null;
  let imageKey = "";
  let drag: { start: Pt; now: Pt; panX: number; panY: number; sx: number; sy: number } | null = null;
  let polygon: Pt[] = [];
  let socket: WebSocket | null = null;
  const state = { renders: 0, lastViewportFrom: 0 };

  const cur = (): { s: Series; inst: Inst } | null => {
    const s = series.find((x) => x.series_uid === vp.series_uid) ?? series[0];
    const inst = s?.instances[Math.min(vp.index, s.instances.length - 1)];
    return s && inst ? { s, inst } : null;
  };

  // --- geometry: image pixel <-> canvas pixel ----------------------------------------
  function layout(): { scale: number; ox: number; oy: number } {
    const c = cur();
    const cols = c?.inst.columns || 1, rows = c?.inst.rows || 1;
    const fit = Math.min(canvas.width / cols, canvas.height / rows);
    const scale = fit * vp.zoom;
    return {
      scale,
      ox: (canvas.width - cols * scale) / 2 + vp.pan_x * scale,
      oy: (canvas.height - rows * scale) / 2 + vp.pan_y * scale,
    };
  }
  const toCanvas = (p: Pt): Pt => { const l = layout(); return [p[0] * l.scale + l.ox, p[1] * l.scale + l.oy]; };
  function toImage(ev: MouseEvent): Pt {
    const r = canvas.getBoundingClientRect();
    const cx = ((ev.clientX - r.left) * canvas.width) / r.width;
    const cy = ((ev.clientY - r.top) * canvas.height) / r.height;
    const l = layout();
    return [(cx - l.ox) / l.scale, (cy - l.oy) / l.scale];
  }

  // --- rendering ---------------------------------------------------------------------
  function src(): string {
    const c = cur();
    if (!c) return "";
    const q = new URLSearchParams({
      frame: String(vp.frame), window: `${Math.round(vp.centre)},${Math.max(1, Math.round(vp.width))}`, format: "png",
    });
    return `/api/v1/imaging/studies/${studyId}/instances/${c.inst.sop_uid}/render?${q}`;
  }
  function load(): void {
    const url = src();
    if (!url || url === imageKey) { draw(); return; }
    imageKey = url;
    const img = new Image();
    img.onload = () => { if (imageKey === url) { image = img; state.renders += 1; draw(); } };
    img.src = url;
  }
  function label(m: Mark): string {
    const v = m.measurement;
    if (m.kind === "length" && v.length_mm !== undefined) return `${v.length_mm.toFixed(1)} mm`;
    if (m.kind === "length" && v.length_px !== undefined) return `${v.length_px.toFixed(1)} px`;
    if ((m.kind === "ellipse" || m.kind === "polygon") && v.area_mm2 !== undefined)
      return `${v.area_mm2.toFixed(1)} mm² · ${(v.mean ?? 0).toFixed(0)} ± ${(v.sd ?? 0).toFixed(0)} HU`;
    return m.text;
  }
  function drawShape(kind: string, pts: Pt[], colour: string, caption: string): void {
    const c = pts.map(toCanvas);
    ctx2d.strokeStyle = colour; ctx2d.fillStyle = colour; ctx2d.lineWidth = 2;
    ctx2d.beginPath();
    const [a, b] = [c[0], c[c.length - 1]];
    if (!a || !b) return;
    if (kind === "ellipse") {
      ctx2d.ellipse((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, Math.abs(b[0] - a[0]) / 2, Math.abs(b[1] - a[1]) / 2, 0, 0, 2 * Math.PI);
    } else if (kind === "text") {
      ctx2d.arc(a[0], a[1], 3, 0, 2 * Math.PI);
    } else {
      ctx2d.moveTo(a[0], a[1]);
      for (const p of c.slice(1)) ctx2d.lineTo(p[0], p[1]);
      if (kind === "polygon") ctx2d.closePath();
    }
    ctx2d.stroke();
    if (kind === "arrow") {
      const ang = Math.atan2(a[1] - b[1], a[0] - b[0]);
      ctx2d.beginPath();
      ctx2d.moveTo(a[0], a[1]);
      ctx2d.lineTo(a[0] - 12 * Math.cos(ang - 0.4), a[1] - 12 * Math.sin(ang - 0.4));
      ctx2d.lineTo(a[0] - 12 * Math.cos(ang + 0.4), a[1] - 12 * Math.sin(ang + 0.4));
      ctx2d.closePath(); ctx2d.fill();
    }
    if (caption) { ctx2d.font = "14px sans-serif"; ctx2d.fillText(caption, b[0] + 6, b[1] - 6); }
  }
  function draw(): void {
    ctx2d.fillStyle = "#000"; ctx2d.fillRect(0, 0, canvas.width, canvas.height);
    const c = cur();
    if (image && c) {
      const l = layout();
      ctx2d.imageSmoothingEnabled = vp.zoom < 3;
      ctx2d.drawImage(image, l.ox, l.oy, c.inst.columns * l.scale, c.inst.rows * l.scale);
    }
    for (const m of marks) {
      if (!c || m.sop_uid !== c.inst.sop_uid || m.frame !== vp.frame) continue;
      drawShape(m.kind, m.points, m.source === "pacs" ? "#4fc3f7" : "#ffd54f", label(m));
    }
    if (drag && tool !== "pan") drawShape(tool, [drag.start, drag.now], "#81c784", "");
    if (polygon.length) drawShape("polyline", polygon, "#81c784", "");
    const count = c?.s.instances.length ?? 0;
    sliceLabel.textContent = `${vp.index + 1} / ${count}${c && c.inst.frames > 1 ? ` · ${vp.frame}/${c.inst.frames}` : ""} · W ${Math.round(vp.width)} L ${Math.round(vp.centre)} · ${vp.zoom.toFixed(2)}×`;
    root.dataset.index = String(vp.index);
    root.dataset.zoom = vp.zoom.toFixed(2);
    root.dataset.centre = String(Math.round(vp.centre));
    root.dataset.width = String(Math.round(vp.width));
    root.dataset.renders = String(state.renders);
  }
  function listMarks(): void {
    markList.replaceChildren(...marks.map((m) => {
      const li = document.createElement("li");
      li.dataset.markId = String(m.id);
      li.textContent = `${t.kinds?.[m.kind] ?? m.kind} · ${label(m) || ""} · ${(t.by ?? "{name}").replace("{name}", m.author)}${m.source === "pacs" ? ` · ${t.frompacs}` : ""}`;
      if (m.author_id === me && m.source === "draft") {
        const b = document.createElement("button");
        b.type = "button"; b.className = "link"; b.textContent = t.remove ?? "Remove";
        b.addEventListener("click", () => void removeMark(m.id));
        li.append(" ", b);
      }
      return li;
    }));
    root.dataset.marks = String(marks.length);
  }

  // --- viewport changes ---------------------------------------------------------------
  function setSlider(): void {
    const c = cur();
    const n = c?.s.instances.length ?? 1;
    const frames = c?.inst.frames ?? 1;
    // A multi-frame instance scrolls its frames; a series of images scrolls its images.
    slice.max = String(n > 1 ? n - 1 : frames - 1);
    slice.value = String(n > 1 ? vp.index : vp.frame - 1);
    centreIn.value = String(Math.round(vp.centre));
    widthIn.value = String(Math.round(vp.width));
  }
  function changed(local = true): void {
    setSlider(); load(); draw();
    if (local) share();
  }
  let shareTimer = 0;
  function share(): void {
    if (!presenter || presenter.user_id !== me || !socket || socket.readyState !== 1) return;
    if (shareTimer) return;
    shareTimer = window.setTimeout(() => {
      shareTimer = 0;
      socket?.send(JSON.stringify({ type: "viewport", viewport: { ...vp } }));
    }, 60);
  }
  function scroll(step: number): void {
    const c = cur();
    if (!c) return;
    if (c.s.instances.length > 1) vp.index = Math.max(0, Math.min(c.s.instances.length - 1, vp.index + step));
    else vp.frame = Math.max(1, Math.min(c.inst.frames, vp.frame + step));
    stopFollowingIfLocal();
    changed();
  }
  function stopFollowingIfLocal(): void {
    // Moving yourself while following a presenter stops following (one click resumes).
    if (presenter && presenter.user_id !== me && following) setFollowing(false);
  }
  function setFollowing(on: boolean): void {
    following = on;
    followBtn.setAttribute("aria-pressed", String(on));
    followBtn.textContent = on ? (t.unfollow ?? "") : (t.follow ?? "");
    root.dataset.following = String(on);
  }

  slice.addEventListener("input", () => {
    const c = cur();
    if (c && c.s.instances.length > 1) vp.index = Number(slice.value); else vp.frame = Number(slice.value) + 1;
    stopFollowingIfLocal(); changed();
  });
  canvas.addEventListener("wheel", (ev) => { ev.preventDefault(); scroll(ev.deltaY > 0 ? 1 : -1); }, { passive: false });
  canvas.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowRight") { ev.preventDefault(); scroll(1); }
    if (ev.key === "ArrowUp" || ev.key === "ArrowLeft") { ev.preventDefault(); scroll(-1); }
    if (ev.key === "Enter" && polygon.length >= 3) void finishPolygon();
    if (ev.key === "Escape") { polygon = []; draw(); }
  });
  root.querySelectorAll<HTMLButtonElement>("[data-preset]").forEach((b) => b.addEventListener("click", () => {
    const p = PRESETS[b.dataset.preset ?? ""];
    if (p) { [vp.centre, vp.width] = p; stopFollowingIfLocal(); changed(); }
  }));
  for (const input of [centreIn, widthIn]) input.addEventListener("change", () => {
    const c = Number(centreIn.value), w = Number(widthIn.value);
    if (Number.isFinite(c) && Number.isFinite(w) && w >= 1) { vp.centre = c; vp.width = w; stopFollowingIfLocal(); changed(); }
  });
  root.querySelectorAll<HTMLButtonElement>("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
    const how = b.dataset.zoom;
    if (how === "in") vp.zoom = Math.min(16, vp.zoom * 1.25);
    else if (how === "out") vp.zoom = Math.max(0.25, vp.zoom / 1.25);
    else { vp.zoom = 1; vp.pan_x = 0; vp.pan_y = 0; }
    stopFollowingIfLocal(); changed();
  }));
  root.querySelectorAll<HTMLButtonElement>("[data-series-pick]").forEach((b) => b.addEventListener("click", () => {
    const s = series[Number(b.dataset.seriesPick)];
    if (s) { vp.series_uid = s.series_uid; vp.index = 0; vp.frame = 1; stopFollowingIfLocal(); changed(); }
  }));
  root.querySelectorAll<HTMLButtonElement>("[data-tool]").forEach((b) => b.addEventListener("click", () => {
    tool = b.dataset.tool ?? "pan"; polygon = [];
    root.querySelectorAll("[data-tool]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    canvas.style.cursor = tool === "pan" ? "grab" : "crosshair";
  }));

  canvas.addEventListener("mousedown", (ev) => {
    const p = toImage(ev);
    if (tool === "polygon") { polygon.push(p); draw(); return; }
    if (tool === "text") { void placeText(p); return; }
    drag = { start: p, now: p, panX: vp.pan_x, panY: vp.pan_y, sx: ev.clientX, sy: ev.clientY };
  });
  canvas.addEventListener("dblclick", () => { if (tool === "polygon" && polygon.length >= 3) void finishPolygon(); });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    if (tool === "pan") {
      const l = layout(); const r = canvas.getBoundingClientRect();
      const k = canvas.width / r.width / l.scale;
      vp.pan_x = drag.panX + (ev.clientX - drag.sx) * k;
      vp.pan_y = drag.panY + (ev.clientY - drag.sy) * k;
      stopFollowingIfLocal(); draw(); share();
    } else { drag.now = toImage(ev); draw(); }
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const d = drag; drag = null;
    if (tool === "pan") { draw(); return; }
    const end = toImage(ev);
    if (Math.hypot(end[0] - d.start[0], end[1] - d.start[1]) < 1) { draw(); return; }
    void addMark(tool, [d.start, end], "");
  });

  async function placeText(p: Pt): Promise<void> {
    const text = textIn?.value.trim() ?? "";
    if (!text) { saveStatus.textContent = t.textprompt ?? ""; textIn?.focus(); return; }
    await addMark("text", [p], text);
  }
  async function finishPolygon(): Promise<void> {
    const pts = polygon; polygon = [];
    await addMark("polygon", pts, "");
  }
  async function api(method: string, url: string, body?: unknown): Promise<Response> {
    return fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  async function addMark(kind: string, points: Pt[], text: string): Promise<void> {
    const c = cur();
    if (!c || !canMark) return;
    const r = await api("POST", `/api/v1/imaging/studies/${studyId}/marks`, {
      kind, sop_uid: c.inst.sop_uid, frame: vp.frame, text,
      points: points.map((p) => [Math.round(p[0] * 100) / 100, Math.round(p[1] * 100) / 100]),
      meeting_id: meeting ? Number(meeting) : null,
    });
    if (r.ok) upsert((await r.json()) as Mark);
    else saveStatus.textContent = ((await r.json()) as { error?: { message?: string } }).error?.message ?? String(r.status);
  }
  async function removeMark(id: number | string): Promise<void> {
    const q = meeting ? `?meeting_id=${meeting}` : "";
    const r = await api("DELETE", `/api/v1/imaging/studies/${studyId}/marks/${id}${q}`);
    if (r.ok) { marks = marks.filter((m) => m.id !== id); listMarks(); draw(); }
  }
  function upsert(m: Mark): void {
    if (!marks.some((x) => x.id === m.id && x.source === m.source)) marks.push(m);
    listMarks(); draw();
  }
  async function reloadMarks(): Promise<void> {
    const r = await api("GET", `/api/v1/imaging/studies/${studyId}/marks`);
    if (r.ok) { marks = (await r.json()) as Mark[]; listMarks(); draw(); }
  }
  root.querySelector<HTMLButtonElement>("[data-save]")?.addEventListener("click", async (ev) => {
    const b = ev.currentTarget as HTMLButtonElement;
    b.disabled = true;
    const r = await api("POST", `/api/v1/imaging/studies/${studyId}/save-to-pacs`);
    b.disabled = false;
    if (r.ok) { saveStatus.textContent = t.saved ?? ""; await reloadMarks(); }
    else {
      const e = (await r.json()) as { error?: { message?: string } };
      saveStatus.textContent = (t.failed ?? "{reason}").replace("{reason}", e.error?.message ?? String(r.status));
    }
  });

  // --- co-reading room ------------------------------------------------------------------
  function showPresence(): void {
    presence.textContent = !presenter ? (t.nopresenter ?? "")
      : presenter.user_id === me ? (t.presenting ?? "") : (t.presenter ?? "").replace("{name}", presenter.name);
    root.dataset.presenter = presenter ? String(presenter.user_id) : "";
  }
  root.querySelector<HTMLButtonElement>("[data-present]")?.addEventListener("click", () => {
    socket?.send(JSON.stringify({ type: "present" }));
  });
  followBtn.addEventListener("click", () => {
    setFollowing(!following);
    if (following) socket?.send(JSON.stringify({ type: "hello" })); // ask the presenter to resend
  });
  function connect(): void {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/imaging/${studyId}?meeting=${meeting}`);
    socket = ws;
    ws.onopen = () => { root.dataset.live = "open"; };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as { type: string; from?: Who; viewport?: Partial<Viewport>; mark?: Mark; id?: number };
      if (msg.type === "present" && msg.from) {
        presenter = msg.from; showPresence();
        if (presenter.user_id !== me) setFollowing(true);
        share();
      } else if (msg.type === "hello" && presenter?.user_id === me) {
        // Someone joined or resumed following: tell them who presents and where we are.
        ws.send(JSON.stringify({ type: "present" }));
      } else if (msg.type === "bye" && msg.from && presenter?.user_id === msg.from.user_id) {
        presenter = null; showPresence();
      } else if (msg.type === "viewport" && msg.viewport && msg.from && msg.from.user_id !== me) {
        if (!presenter || presenter.user_id !== msg.from.user_id) { presenter = msg.from; showPresence(); }
        if (!following) return;
        const v = msg.viewport;
        if (typeof v.series_uid === "string" && series.some((s) => s.series_uid === v.series_uid)) vp.series_uid = v.series_uid;
        for (const k of ["index", "frame", "centre", "width", "zoom", "pan_x", "pan_y"] as const)
          if (typeof v[k] === "number") vp[k] = v[k];
        state.lastViewportFrom = msg.from.user_id;
        changed(false);
      } else if (msg.type === "mark" && msg.mark) {
        upsert({ ...msg.mark, source: "draft" });
      } else if (msg.type === "unmark" && msg.id !== undefined) {
        marks = marks.filter((m) => !(m.id === msg.id && m.source === "draft")); listMarks(); draw();
      }
    };
    ws.onclose = () => { root.dataset.live = "closed"; window.setTimeout(connect, 2000); };
  }

  // Sizes: the canvas follows its box (phone or PC).
  const resize = (): void => {
    const w = Math.max(240, Math.min(900, canvas.parentElement?.clientWidth ?? 720));
    if (canvas.width !== w) { canvas.width = w; canvas.height = w; draw(); }
  };
  new ResizeObserver(resize).observe(canvas.parentElement ?? canvas);
  setFollowing(true);
  showPresence();
  resize();
  changed(false);
  void reloadMarks();
  connect();
}

export {};
