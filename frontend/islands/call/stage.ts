// The video stage: one tile per participant, laid out as a grid, as the active speaker
// (or a pinned tile) big with the others in a strip, or as the shared screen big
// (presenter, chosen by itself when a share starts). Our own camera is a small,
// hideable picture-in-picture. Asks for the simulcast layer each tile's size needs.

import { h, initials, type Strings } from "./dom";
import { icon } from "./icons";
import type { Quality, RosterEntry } from "./types";

export type Layout = "grid" | "speaker" | "presenter";
export type Layer = "high" | "low" | "off";

export interface Tile {
  id: string;
  el: HTMLElement;
  video: HTMLVideoElement;
  stream: MediaStream;
  self: boolean;
  screen: boolean;
  /** Our own screen share coming back to us: not shown, not received. */
  own: boolean;
  /** The roster says the camera is off (by its owner or the chair). */
  camOff: boolean;
}

const QUALITY_CLASS: Record<string, string> = {
  excellent: "q-good",
  good: "q-good",
  fair: "q-fair",
  poor: "q-bad",
  bad: "q-bad",
};

export class Stage {
  readonly tiles = new Map<string, Tile>();
  layout: Layout = "grid";
  pinned: string | null = null;
  speaker: string | null = null;
  selfHidden = false;
  sinkId = "";
  private beforePresenter: Layout = "grid";
  private hadScreen = false;
  private focus: string | null = null;
  private readonly layers = new Map<string, Layer>();
  private readonly stage: HTMLElement;
  private readonly main: HTMLElement;
  private readonly strip: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly s: Strings,
    private readonly setLayer: (publisher: string, layer: Layer) => void,
  ) {
    this.stage = root.querySelector<HTMLElement>("[data-stage]") ?? root;
    this.main = this.stage.querySelector<HTMLElement>("[data-main]") ?? this.stage;
    this.strip = this.stage.querySelector<HTMLElement>("[data-strip]") ?? this.stage;
    new ResizeObserver(() => this.render()).observe(this.stage);
    this.stage.addEventListener("click", (ev) => {
      const button = (ev.target as HTMLElement).closest<HTMLElement>("[data-tile-action]");
      if (!button) return;
      const id = button.closest<HTMLElement>(".tile")?.dataset.participant ?? "";
      if (button.dataset.tileAction === "pin") this.togglePin(id);
      if (button.dataset.tileAction === "hide-self") this.hideSelf(true);
      if (button.dataset.tileAction === "show-self") this.hideSelf(false);
    });
    for (const b of root.querySelectorAll<HTMLButtonElement>("button[data-layout]")) {
      b.addEventListener("click", () => this.setLayout(b.dataset.layout as Layout));
    }
  }

  ensure(id: string, name: string, self = false): Tile {
    const existing = this.tiles.get(id);
    if (existing) return existing;
    const stream = new MediaStream();
    const video = h("video", { autoplay: true, playsinline: true });
    video.muted = self;
    video.srcObject = stream;
    if (!self && this.sinkId) void this.applySink(video);
    const button = self
      ? h("button", { type: "button", class: "tile-btn", "data-tile-action": "hide-self", title: this.s.t("hide-self"), "aria-label": this.s.t("hide-self") }, icon("close"))
      : h("button", { type: "button", class: "tile-btn", "data-tile-action": "pin", title: this.s.t("pin"), "aria-label": this.s.t("pin") }, icon("pin"));
    const el = h(
      "figure",
      { class: self ? "tile self" : "tile", "data-participant": id },
      video,
      h("div", { class: "avatar", "aria-hidden": "true" }, h("span", {}, initials(name))),
      h(
        "figcaption",
        {},
        h("span", { class: "q", hidden: true }),
        h("span", { class: "name" }, name),
        h("span", { class: "ico mic-off", hidden: true }, icon("micOff", this.s.t("muted"))),
        h("span", { class: "ico hand", hidden: true }, icon("hand", this.s.t("hand-raised"))),
      ),
      button,
    );
    const tile: Tile = { id, el, video, stream, self, screen: false, own: false, camOff: false };
    this.tiles.set(id, tile);
    (self ? this.stage : this.main).append(el);
    this.render();
    return tile;
  }

  addTrack(id: string, name: string, track: MediaStreamTrack): void {
    const tile = this.ensure(id, name);
    for (const old of tile.stream.getTracks()) if (old.kind === track.kind) tile.stream.removeTrack(old);
    tile.stream.addTrack(track);
    track.onended = () => tile.stream.removeTrack(track);
    // a remote track is muted while no packets arrive (not sent, or stopped by the chair)
    track.onmute = track.onunmute = () => this.render();
    this.render();
  }

  remove(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.el.remove();
    this.tiles.delete(id);
    this.layers.delete(id);
    if (this.pinned === id) this.pinned = null;
    this.render();
  }

  /** Tiles follow the roster: one for everyone but us, observers and our own screen
   *  share; a tile without live tracks goes when its owner leaves the roster. */
  sync(roster: RosterEntry[], me: string, nameOf: (id: string) => string): void {
    for (const p of roster) {
      if (p.id !== me && p.role !== "observer" && p.screen_of !== me) this.ensure(p.id, nameOf(p.id));
    }
    const present = new Set(roster.map((p) => p.id));
    for (const [id, tile] of this.tiles) {
      const live = tile.stream.getTracks().some((t) => t.readyState === "live");
      if (!tile.self && !present.has(id) && !live) this.remove(id);
    }
  }

  removeRemotes(): void {
    for (const id of [...this.tiles.keys()]) if (id !== "self") this.remove(id);
    this.layers.clear();
  }

  get remoteCount(): number {
    return [...this.tiles.values()].filter((t) => !t.self && !t.own).length;
  }

  /** Name, muted microphone, camera off, raised hand and (for hosts) the quality dot. */
  describe(id: string, entry: RosterEntry | undefined, name: string, quality?: Quality, screen = false, own = false): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.screen = screen;
    tile.own = own;
    tile.el.classList.toggle("screen", screen);
    tile.el.hidden = own;
    const label = screen ? this.s.t("screen-of", { name }) : name;
    const nameEl = tile.el.querySelector(".name");
    if (nameEl && nameEl.textContent !== label) nameEl.textContent = label;
    const avatar = tile.el.querySelector(".avatar span");
    if (avatar) avatar.textContent = initials(name);
    const micOff = !screen && entry !== undefined && (!entry.audio || entry.host_muted.audio);
    const camOff = !screen && entry !== undefined && (!entry.video || entry.host_muted.video);
    tile.el.querySelector<HTMLElement>(".mic-off")!.hidden = !micOff;
    tile.el.querySelector<HTMLElement>(".hand")!.hidden = !entry?.hand;
    tile.camOff = camOff;
    tile.el.classList.toggle("hand-up", entry?.hand === true);
    const dot = tile.el.querySelector<HTMLElement>(".q")!;
    dot.hidden = !quality;
    if (quality) {
      dot.className = `q ${QUALITY_CLASS[quality.label] ?? "q-fair"}`;
      dot.title = this.s.t("quality-tip", {
        mos: quality.mos.toFixed(1),
        rtt: Math.round(quality.rtt_ms),
        loss: quality.loss_pct.toFixed(1),
      });
    }
  }

  setSpeaker(id: string): void {
    this.speaker = id;
    for (const [tid, tile] of this.tiles) tile.el.classList.toggle("speaking", tid === id);
    if (this.layout === "speaker" && !this.pinned) this.render();
  }

  setLayout(layout: Layout): void {
    if (layout === "presenter" && !this.hasScreen()) return;
    this.layout = layout;
    this.render();
  }

  togglePin(id: string): void {
    this.pinned = this.pinned === id ? null : id;
    this.render();
  }

  hideSelf(hidden: boolean): void {
    this.selfHidden = hidden;
    this.render();
    this.root.dispatchEvent(new CustomEvent("call:selfview"));
  }

  private hasScreen(): boolean {
    return [...this.tiles.values()].some((t) => t.screen && !t.own);
  }

  /** A share started: presenter layout; it ended: back to the layout before it. */
  private followScreens(): void {
    const has = this.hasScreen();
    if (has && !this.hadScreen && this.layout !== "presenter") {
      this.beforePresenter = this.layout;
      this.layout = "presenter";
    } else if (!has && this.hadScreen && this.layout === "presenter") {
      this.layout = this.beforePresenter;
    }
    this.hadScreen = has;
  }

  private chooseFocus(remotes: Tile[]): Tile | null {
    const byId = (id: string | null) => remotes.find((t) => t.id === id) ?? null;
    if (byId(this.pinned)) return byId(this.pinned);
    if (this.layout === "presenter") return remotes.find((t) => t.screen) ?? null;
    if (this.layout === "speaker") return byId(this.speaker) ?? byId(this.focus) ?? remotes[0] ?? null;
    return null;
  }

  render(): void {
    this.followScreens();
    const remotes = [...this.tiles.values()].filter((t) => !t.self && !t.own);
    const focus = this.chooseFocus(remotes);
    this.focus = focus?.id ?? null;
    const mode = focus ? "focus" : "grid";
    this.stage.dataset.mode = mode;
    this.stage.dataset.layout = this.layout;
    this.root.dataset.layout = this.layout;
    const ordered = [...remotes.filter((t) => t.screen), ...remotes.filter((t) => !t.screen)];
    const self = this.tiles.get("self");
    const alone = remotes.length === 0;
    if (focus) {
      this.place(this.main, [focus.el]);
      this.place(this.strip, ordered.filter((t) => t !== focus).map((t) => t.el));
    } else {
      this.place(this.main, alone && self ? [self.el] : ordered.map((t) => t.el));
      this.place(this.strip, []);
    }
    if (self) {
      self.el.classList.toggle("alone", alone);
      self.el.classList.toggle("pip", !alone);
      if (!alone && self.el.parentElement !== this.stage) this.stage.append(self.el);
      self.el.hidden = this.selfHidden && !alone;
    }
    this.stage.querySelector<HTMLElement>("[data-show-self]")?.toggleAttribute("hidden", !(this.selfHidden && !alone));
    for (const t of remotes) {
      const picture = t.stream.getVideoTracks().some((v) => v.readyState === "live" && !v.muted);
      t.el.classList.toggle("no-video", t.camOff || !picture);
      t.el.classList.toggle("pinned", t.id === this.pinned);
      t.el.querySelector(".tile-btn")?.setAttribute("aria-pressed", String(t.id === this.pinned));
    }
    this.stage.dataset.strip = String(this.strip.childElementCount);
    if (mode === "grid") this.sizeGrid(alone ? 1 : ordered.length);
    for (const b of this.root.querySelectorAll<HTMLButtonElement>("button[data-layout]")) {
      b.setAttribute("aria-pressed", String(b.dataset.layout === this.layout));
      if (b.dataset.layout === "presenter") b.disabled = !this.hasScreen();
    }
    this.chooseLayers();
  }

  /** Put exactly `els` into `box`, in order, moving as few nodes as possible. */
  private place(box: HTMLElement, els: HTMLElement[]): void {
    els.forEach((el, i) => {
      if (box.children[i] !== el) {
        box.insertBefore(el, box.children[i] ?? null);
        const video = el.querySelector("video");
        if (video?.paused) void video.play().catch(() => undefined);
      }
    });
    while (box.children.length > els.length) {
      const last = box.lastElementChild as HTMLElement;
      if (last.classList.contains("self")) this.stage.append(last);
      else last.remove();
    }
  }

  /** Columns that give the biggest 16:9 tiles in the space there is. */
  private sizeGrid(n: number): void {
    const gap = 8;
    const w = this.main.clientWidth;
    const hgt = this.main.clientHeight;
    if (!w || !hgt || !n) return;
    let best = { cols: 1, width: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const width = Math.min((w - (cols - 1) * gap) / cols, ((hgt - (rows - 1) * gap) / rows) * (16 / 9));
      if (width > best.width) best = { cols, width };
    }
    this.main.style.setProperty("--cols", String(best.cols));
    this.main.style.setProperty("--tile-w", `${Math.floor(best.width)}px`);
  }

  /** The high simulcast layer only where a tile is big enough to show it. */
  chooseLayers(): void {
    for (const [id, tile] of this.tiles) {
      if (tile.self) continue;
      const layer: Layer = tile.own ? "off" : tile.screen || tile.video.clientWidth >= 480 ? "high" : "low";
      if (this.layers.get(id) !== layer) {
        this.layers.set(id, layer);
        this.setLayer(id, layer);
      }
    }
  }

  async setSink(deviceId: string): Promise<void> {
    this.sinkId = deviceId;
    await Promise.all([...this.tiles.values()].filter((t) => !t.self).map((t) => this.applySink(t.video)));
  }

  private async applySink(video: HTMLVideoElement): Promise<void> {
    const v = video as HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> };
    await v.setSinkId?.(this.sinkId).catch(() => undefined);
  }
}
