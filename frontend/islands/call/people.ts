// The participants panel: everyone in the roster with role, microphone, camera, hand,
// chair mute and recording consent; for hosts and co-hosts the per-person actions, the
// waiting room and the room actions (mute all, unmute policy, lock, roll-call,
// recording, end for all).

import { h, initials, type Strings } from "./dom";
import { icon } from "./icons";
import type { LobbyEntry, Policy, Quality, RecordingState, RosterEntry } from "./types";

export interface PeopleView {
  me: string;
  chair: boolean;
  roster: RosterEntry[];
  policy: Policy;
  lobby: LobbyEntry[];
  recording: RecordingState;
  quality: Map<string, Quality>;
  rollcall: { id: string; answered: number; pending: number; names: string } | null;
}

export type Control = (action: string, target?: string) => void;

const QUALITY_CLASS: Record<string, string> = { excellent: "q-good", good: "q-good", fair: "q-fair", poor: "q-bad", bad: "q-bad" };

export class People {
  private readonly list: HTMLElement;
  private readonly lobbyBox: HTMLElement;
  private readonly chairBox: HTMLElement;

  constructor(
    private readonly panel: HTMLElement,
    private readonly s: Strings,
    private readonly control: Control,
    private readonly confirm: (text: string, ok: string) => Promise<boolean>,
  ) {
    this.list = panel.querySelector<HTMLElement>("[data-people]")!;
    this.lobbyBox = panel.querySelector<HTMLElement>("[data-lobby]")!;
    this.chairBox = panel.querySelector<HTMLElement>("[data-chair]")!;
    panel.addEventListener("click", (ev) => void this.onClick(ev));
  }

  private async onClick(ev: Event): Promise<void> {
    const button = (ev.target as HTMLElement).closest<HTMLButtonElement>("button[data-control]");
    if (!button || button.disabled) return;
    const action = button.dataset.control ?? "";
    const target = button.dataset.target;
    if (action === "end" && !(await this.confirm(this.s.t("confirm-end"), this.s.t("end-all")))) return;
    if (action === "remove" && !(await this.confirm(this.s.t("confirm-remove", { name: button.dataset.name ?? "" }), this.s.t("remove")))) return;
    this.control(action, target);
  }

  render(v: PeopleView): void {
    // us first, then the chair, then everyone else in the order they came
    const rank = (p: RosterEntry) => (p.id === v.me ? 0 : p.role === "host" ? 1 : p.role === "cohost" ? 2 : 3);
    const people = v.roster.filter((p) => !p.screen_of && p.role !== "screen").sort((a, b) => rank(a) - rank(b));
    const sharing = new Set(v.roster.map((p) => p.screen_of).filter(Boolean));
    const count = this.panel.querySelector("[data-people-count]");
    if (count) count.textContent = String(people.length);
    this.renderLobby(v);
    this.renderChair(v, sharing.size > 0);
    this.list.replaceChildren(...people.map((p) => this.row(p, v, sharing.has(p.id))));
  }

  private roleLabel(role: string): string {
    return role === "participant" ? "" : this.s.t(`role-${role}`);
  }

  private row(p: RosterEntry, v: PeopleView, sharing: boolean): HTMLElement {
    const self = p.id === v.me;
    const micOff = !p.audio || p.host_muted.audio;
    const camOff = !p.video || p.host_muted.video;
    const q = v.chair ? v.quality.get(p.id) : undefined;
    const state = h(
      "span",
      { class: "states" },
      p.hand && h("span", { class: "st hand", title: this.s.t("hand-raised") }, icon("hand", this.s.t("hand-raised"))),
      sharing && h("span", { class: "st share", title: this.s.t("sharing") }, icon("screen", this.s.t("sharing"))),
      h(
        "span",
        { class: `st mic${micOff ? " off" : ""}${p.host_muted.audio ? " held" : ""}`, title: this.micTitle(p) },
        icon(micOff ? "micOff" : "mic", this.micTitle(p)),
      ),
      h(
        "span",
        { class: `st cam${camOff ? " off" : ""}${p.host_muted.video ? " held" : ""}`, title: camOff ? this.s.t("camera-is-off") : this.s.t("camera-is-on") },
        icon(camOff ? "camOff" : "cam", camOff ? this.s.t("camera-is-off") : this.s.t("camera-is-on")),
      ),
      (v.recording || v.chair) &&
        h(
          "span",
          { class: `st consent${p.recording ? " yes" : " no"}`, title: p.recording ? this.s.t("consent-yes") : this.s.t("consent-no") },
          p.recording ? this.s.t("rec-short") : this.s.t("not-recorded-short"),
        ),
      q &&
        h("span", {
          class: `q ${QUALITY_CLASS[q.label] ?? "q-fair"}`,
          title: this.s.t("quality-tip", { mos: q.mos.toFixed(1), rtt: Math.round(q.rtt_ms), loss: q.loss_pct.toFixed(1) }),
          role: "img",
          "aria-label": this.s.t("quality-tip", { mos: q.mos.toFixed(1), rtt: Math.round(q.rtt_ms), loss: q.loss_pct.toFixed(1) }),
        }),
    );
    const role = this.roleLabel(p.role);
    const li = h(
      "li",
      { class: `person${micOff ? " mic-off" : ""}${p.host_muted.audio ? " host-muted" : ""}${p.hand ? " hand-up" : ""}`, "data-participant": p.id },
      h("span", { class: "avatar-sm", "aria-hidden": "true" }, initials(p.name)),
      h(
        "span",
        { class: "who" },
        h("span", { class: "pname" }, p.name, self ? ` (${this.s.t("you")})` : ""),
        role && h("span", { class: `badge role-${p.role}` }, role),
      ),
      state,
    );
    if (v.chair && !self && p.role !== "host") li.append(this.actions(p));
    return li;
  }

  private micTitle(p: RosterEntry): string {
    if (p.host_muted.audio) return this.s.t("muted-by-host-short");
    return p.audio ? this.s.t("mic-is-on") : this.s.t("muted");
  }

  private actions(p: RosterEntry): HTMLElement {
    const btn = (action: string, label: string, disabled = false, cls = "secondary") =>
      h("button", { type: "button", class: `small ${cls}`, "data-control": action, "data-target": p.id, "data-name": p.name, disabled }, label);
    return h(
      "div",
      { class: "person-actions" },
      p.host_muted.audio ? btn("allow_audio", this.s.t("allow-audio")) : btn("mute", this.s.t("mute-person")),
      p.host_muted.video ? btn("allow_video", this.s.t("allow-video")) : btn("stop_video", this.s.t("stop-video")),
      p.identity.startsWith("u") && p.role === "participant" && btn("cohost", this.s.t("make-cohost")),
      btn("remove", this.s.t("remove"), false, "danger-outline"),
    );
  }

  private renderLobby(v: PeopleView): void {
    this.lobbyBox.hidden = !v.chair || v.lobby.length === 0;
    const list = this.lobbyBox.querySelector("[data-lobby-list]")!;
    list.replaceChildren(
      ...v.lobby.map((g) =>
        h(
          "li",
          { class: "person waiting", "data-lobby-id": g.id },
          h("span", { class: "avatar-sm", "aria-hidden": "true" }, initials(g.name)),
          h("span", { class: "who" }, h("span", { class: "pname" }, g.name)),
          h(
            "span",
            { class: "lobby-actions" },
            h("button", { type: "button", class: "small", "data-control": "admit", "data-target": g.id }, this.s.t("admit")),
            h("button", { type: "button", class: "small secondary", "data-control": "deny", "data-target": g.id }, this.s.t("deny")),
          ),
        ),
      ),
    );
  }

  private renderChair(v: PeopleView, sharing: boolean): void {
    this.chairBox.hidden = !v.chair;
    if (!v.chair) return;
    const set = (sel: string, fn: (b: HTMLButtonElement) => void) => {
      const b = this.chairBox.querySelector<HTMLButtonElement>(sel);
      if (b) fn(b);
    };
    set("[data-control=allow_unmute],[data-control=disallow_unmute]", (b) => {
      b.dataset.control = v.policy.allow_unmute ? "disallow_unmute" : "allow_unmute";
      b.textContent = v.policy.allow_unmute ? this.s.t("disallow-unmute") : this.s.t("allow-unmute");
    });
    set("[data-control=lock],[data-control=unlock]", (b) => {
      b.dataset.control = v.policy.locked ? "unlock" : "lock";
      b.textContent = v.policy.locked ? this.s.t("unlock") : this.s.t("lock");
      b.setAttribute("aria-pressed", String(v.policy.locked));
    });
    set("[data-control=stop_share]", (b) => (b.hidden = !sharing));
    const rec = v.recording;
    set("[data-control=record_start]", (b) => (b.hidden = rec !== null));
    set("[data-control=record_pause]", (b) => (b.hidden = rec !== "recording"));
    set("[data-control=record_resume]", (b) => (b.hidden = rec !== "paused"));
    set("[data-control=record_stop]", (b) => (b.hidden = rec === null));
    const status = this.chairBox.querySelector<HTMLElement>("[data-rollcall-status]");
    if (status) {
      status.hidden = !v.rollcall;
      if (v.rollcall) {
        status.textContent = this.s.t("rollcall-status", { answered: v.rollcall.answered, pending: v.rollcall.pending });
        status.title = v.rollcall.names;
      }
    }
    const lockState = this.chairBox.querySelector<HTMLElement>("[data-lock-state]");
    if (lockState) lockState.hidden = !v.policy.locked;
  }
}
