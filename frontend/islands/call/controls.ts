// The control bar and what hangs off it: microphone (respecting a chair mute), camera,
// screen share, hand, the chat / participants / settings panels, devices, recording
// consent, the recording indicator and the roll-call prompt.

import { LocalMedia, canChooseSpeaker, type DeviceKind } from "./local";
import type { Meeting } from "./meeting";
import type { Kind } from "./types";

type Panel = "chat" | "people" | "settings" | "board" | "engage";

export class Controls {
  readonly local = new LocalMedia();
  private panel: Panel | null = null;
  private rollcallId = "";

  constructor(private readonly m: Meeting) {}

  private q<T extends HTMLElement = HTMLElement>(sel: string): T | null {
    return this.m.root.querySelector<T>(sel);
  }

  private button(action: string): HTMLButtonElement | null {
    return this.q<HTMLButtonElement>(`[data-action="${action}"]`);
  }

  async wire(): Promise<void> {
    const on = (action: string, fn: () => void) => this.button(action)?.addEventListener("click", fn);
    on("leave", () => this.m.leave());
    on("mute", () => this.toggle("audio"));
    on("camera", () => this.toggle("video"));
    on("hand", () => {
      this.m.hand = !this.m.hand;
      this.m.send({ type: "hand", raised: this.m.hand });
      this.render();
    });
    on("share", () => void this.share());
    on("stop-share", () => this.m.screen.stop());
    on("chat", () => this.open("chat"));
    on("people", () => this.open("people"));
    on("settings", () => this.open("settings"));
    on("board", () => this.open("board"));
    on("engage", () => this.open("engage"));
    on("rollcall-ack", () => {
      this.m.send({ type: "rollcall_ack", id: this.rollcallId });
      this.q("[data-rollcall]")!.hidden = true;
      this.m.ui.toast(this.m.s.t("rollcall-thanks"));
    });
    for (const b of this.m.root.querySelectorAll<HTMLElement>("[data-close-panel]")) b.addEventListener("click", () => this.open(null));
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.panel && !this.m.root.querySelector("dialog[open]")) this.open(null);
    });
    const consent = this.q<HTMLInputElement>("[data-consent]");
    if (consent) {
      consent.checked = this.m.consent;
      consent.disabled = this.m.isGuest;
      consent.addEventListener("change", () => {
        this.m.consent = consent.checked;
        this.m.send({ type: "consent", recording: consent.checked });
      });
    }
    const selfView = this.q<HTMLInputElement>("[data-self-view]");
    selfView?.addEventListener("change", () => this.m.stage.hideSelf(!selfView.checked));
    this.m.root.addEventListener("call:selfview", () => this.render());
    window.addEventListener("beforeunload", () => this.m.send({ type: "leave" }));
    window.addEventListener("resize", () => this.m.stage.chooseLayers());
    await this.fillDevices();
    navigator.mediaDevices?.addEventListener?.("devicechange", () => void this.fillDevices());
  }

  /** Our own mute/camera button. A chair mute can only be lifted by asking the server. */
  private toggle(kind: Kind): void {
    const on = kind === "audio" ? this.local.micOn : this.local.camOn;
    if (on) {
      this.local.set(kind, false);
    } else if (this.m.mutedByHost[kind]) {
      if (!this.m.canUnmute) {
        this.m.ui.toast(this.m.s.t("unmute-forbidden"), "error");
        return;
      }
      this.m.send({ type: "unmute", kind });
      return;
    } else {
      this.local.set(kind, true);
    }
    this.m.reportMedia();
    this.render();
  }

  private async share(): Promise<void> {
    if (this.m.screen.active) {
      this.m.screen.stop();
      return;
    }
    try {
      await this.m.screen.start();
    } catch (err) {
      if ((err as DOMException)?.name !== "NotAllowedError") this.m.ui.toast(`${this.m.s.t("share-failed")}: ${String(err)}`, "error");
    }
  }

  open(panel: Panel | null): void {
    this.panel = this.panel === panel ? null : panel;
    for (const el of this.m.root.querySelectorAll<HTMLElement>("[data-panel]")) el.hidden = el.dataset.panel !== this.panel;
    for (const name of ["chat", "people", "settings", "board", "engage"]) this.button(name)?.setAttribute("aria-expanded", String(this.panel === name));
    this.m.root.dataset.openPanel = this.panel ?? "";
    this.m.chat.setOpen(this.panel === "chat");
    if (this.panel === "people") this.button("people")?.classList.remove("attention");
    this.m.stage.render();
  }

  badge(name: string, count: number): void {
    const el = this.button(name)?.querySelector<HTMLElement>("[data-badge]");
    if (!el) return;
    el.textContent = String(count);
    el.hidden = count === 0;
  }

  /** Someone is waiting: make the participants button pulse until it is opened. */
  attention(): void {
    if (this.panel !== "people") this.button("people")?.classList.add("attention");
  }

  rollcall(id: string): void {
    this.rollcallId = id;
    this.q("[data-rollcall]")!.hidden = false;
  }

  render(): void {
    const m = this.m;
    const joined = m.phase === "joined";
    const mic = this.button("mute");
    if (mic) {
      const on = this.local.micOn;
      const held = m.mutedByHost.audio;
      mic.setAttribute("aria-pressed", String(!on));
      mic.classList.toggle("on", !on);
      mic.disabled = !this.local.hasMic || (held && !m.canUnmute);
      mic.title = held ? (m.canUnmute ? m.s.t("ask-unmute") : m.s.t("unmute-forbidden")) : "";
      mic.querySelector("[data-label]")!.textContent = on ? m.s.t("mute") : held && m.canUnmute ? m.s.t("ask-unmute-short") : m.s.t("unmute");
    }
    const cam = this.button("camera");
    if (cam) {
      const on = this.local.camOn;
      const held = m.mutedByHost.video;
      cam.setAttribute("aria-pressed", String(!on));
      cam.classList.toggle("on", !on);
      cam.disabled = !this.local.hasCam || (held && !m.canUnmute);
      cam.querySelector("[data-label]")!.textContent = on ? m.s.t("camera-off") : m.s.t("camera-on");
    }
    const self = m.stage.tiles.get("self");
    self?.el.classList.toggle("no-video", !this.local.camOn);
    self?.el.querySelector<HTMLElement>(".mic-off")?.toggleAttribute("hidden", this.local.micOn);
    const held = this.q("[data-held]");
    if (held) {
      const kinds = (["audio", "video"] as const).filter((k) => m.mutedByHost[k]);
      held.hidden = kinds.length === 0 || !joined;
      const sep = document.documentElement.lang.startsWith("zh") ? "" : " ";
      const parts = kinds.map((k) => m.s.t(k === "audio" ? "muted-by-host" : "video-stopped-by-host"));
      if (kinds.length && !m.canUnmute) parts.push(m.s.t("unmute-not-allowed"));
      held.textContent = parts.join(sep);
      held.toggleAttribute("data-muted-by-host", m.mutedByHost.audio);
    }
    const hand = this.button("hand");
    if (hand) {
      hand.setAttribute("aria-pressed", String(m.hand));
      hand.querySelector("[data-label]")!.textContent = m.hand ? m.s.t("lower-hand") : m.s.t("raise-hand");
    }
    const share = this.button("share");
    if (share) {
      const other = m.roster.some((p) => p.screen_of && p.screen_of !== m.me);
      share.setAttribute("aria-pressed", String(m.screen.active));
      share.disabled = !joined || (other && !m.screen.active);
      share.querySelector("[data-label]")!.textContent = m.screen.active ? m.s.t("stop-share") : m.s.t("share");
    }
    this.q("[data-presenting]")?.toggleAttribute("hidden", !m.screen.active);
    const selfView = this.q<HTMLInputElement>("[data-self-view]");
    if (selfView) selfView.checked = !m.stage.selfHidden;
    this.badge("people", m.chair ? m.lobby.length : 0);
    const rec = this.q("[data-rec]");
    if (rec) {
      rec.hidden = m.recordingState === null;
      rec.dataset.state = m.recordingState ?? "";
      const text = m.recordingState === "paused" ? m.s.t("rec-paused") : m.s.t("rec");
      rec.querySelector("[data-rec-text]")!.textContent = m.recordingIncluded ? text : `${text} · ${m.s.t("not-recording-you")}`;
    }
    if (!joined && this.panel && this.panel !== "settings") this.open(null);
  }

  private async fillDevices(): Promise<void> {
    const devices = await this.local.devices();
    for (const select of this.m.root.querySelectorAll<HTMLSelectElement>("select[data-device]")) {
      const kind = select.dataset.device as DeviceKind;
      const current = select.value;
      const options = devices
        .filter((d) => d.kind === kind)
        .map((d, i) => new Option(d.label || `${this.m.s.t(`device-${kind}`)} ${i + 1}`, d.deviceId));
      select.replaceChildren(...options);
      if (current) select.value = current;
      const unavailable = options.length === 0 || (kind === "audiooutput" && !canChooseSpeaker());
      select.disabled = unavailable;
      select.closest<HTMLElement>(".field")?.classList.toggle("unavailable", unavailable);
      select.onchange = () => void this.switchDevice(kind, select.value);
    }
  }

  private async switchDevice(kind: DeviceKind, deviceId: string): Promise<void> {
    try {
      if (kind === "audiooutput") {
        await this.m.stage.setSink(deviceId);
        return;
      }
      const swap = await this.local.switchTo(kind, deviceId);
      if (!swap) return;
      await this.m.legs.replace(swap[0], swap[1]);
      const self = this.m.stage.tiles.get("self");
      if (self && swap[1].kind === "video") {
        for (const t of self.stream.getVideoTracks()) self.stream.removeTrack(t);
        self.stream.addTrack(swap[1]);
      }
    } catch (err) {
      this.m.ui.toast(`${this.m.s.t("device-failed")}: ${String(err)}`, "error");
    }
  }
}
