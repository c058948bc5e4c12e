// The call page's state: one /ws/signal connection (media legs plus the meeting layer
// of docs/signalling.md), the stage, the panels and the controls.

import { StatsSampler } from "../quality";
import { Chat } from "./chat";
import { chime, Strings } from "./dom";
import { type InboundStat, Legs } from "./media";
import { People } from "./people";
import { ScreenShare } from "./screen";
import { SignalConnection } from "./signal";
import { Stage } from "./stage";
import { Controls } from "./controls";
import { ERROR_KEYS, includesUs, parsePolicy, parseQuality, parseRollcall, type RollcallView, statsMessage } from "./room";
import { Ui } from "./ui";
import {
  CHAIR_ROLES,
  type Json,
  type Kind,
  type LobbyEntry,
  type Policy,
  type Quality,
  type RecordingState,
  type RosterEntry,
  recordingState,
  rosterEntry,
  type Urls,
} from "./types";

const STATS_EVERY_MS = 5000;

export class Meeting {
  readonly s: Strings;
  readonly ui: Ui;
  readonly stage: Stage;
  readonly chat: Chat;
  readonly people: People;
  readonly controls: Controls;
  readonly screen: ScreenShare;
  readonly conn: SignalConnection;
  readonly legs: Legs;
  readonly urls: Urls;
  readonly isGuest: boolean;
  role: string;
  me = "";
  state = "connecting";
  phase = "connecting";
  resumed = false;
  roster: RosterEntry[] = [];
  policy: Policy = { locked: false, allow_unmute: true, waiting_room: true };
  lobby: LobbyEntry[] = [];
  recordingState: RecordingState = null;
  recordingIncluded = true;
  readonly mutedByHost = { audio: false, video: false };
  canUnmute = true;
  hand = false;
  consent = true;
  readonly quality = new Map<string, Quality>();
  private readonly names = new Map<string, string>();
  private readonly unplaced = new Map<string, MediaStreamTrack[]>();
  private rollcall: RollcallView | null = null;
  private readonly sampler = new StatsSampler();
  private gotRoster = false;

  constructor(readonly root: HTMLElement) {
    const d = root.dataset;
    this.urls = { token: d.tokenUrl ?? "", upload: d.uploadUrl ?? "", files: d.filesUrl ?? "", leave: d.leaveUrl ?? "/" };
    this.isGuest = d.guest === "true";
    this.role = d.role ?? "participant";
    this.consent = !this.isGuest;
    this.s = new Strings(root);
    this.ui = new Ui(root);
    this.conn = new SignalConnection({
      tokenUrl: this.urls.token,
      joinFields: () => ({ chat_after: this.chat.lastId }),
      onMessage: (msg) => this.onMessage(msg),
      onState: (state) => {
        if (state === "reconnecting") this.setStatus("reconnecting", this.s.t("reconnecting"));
      },
      onRefused: (code, message) => this.onRefused(code, message),
    });
    this.legs = new Legs(
      (msg) => this.conn.send(msg),
      () => this.conn.iceServers,
      (owner, track) => this.onTrack(owner, track),
    );
    this.stage = new Stage(root, this.s, (publisher, layer) => this.conn.send({ type: "layer", publisher, layer }));
    this.chat = new Chat(
      root.querySelector<HTMLElement>("[data-panel=chat]")!,
      this.s,
      (msg) => this.conn.send(msg),
      this.urls,
      (n) => this.controls.badge("chat", n),
      (text, kind) => this.ui.toast(text, kind),
    );
    this.people = new People(
      root.querySelector<HTMLElement>("[data-panel=people]")!,
      this.s,
      (action, target) => this.conn.send({ type: "control", action, ...(target ? { target } : {}) }),
      (text, ok) => this.ui.confirm(text, ok),
    );
    this.screen = new ScreenShare(
      this.urls.token,
      () => this.render(),
      (code) => this.onError(code),
    );
    this.controls = new Controls(this);
  }

  get chair(): boolean {
    return CHAIR_ROLES.includes(this.role);
  }

  get observer(): boolean {
    return this.role === "observer";
  }

  /** For tests and the quality display: `{id, text, sender_name}` in id order. */
  get chatMessages(): { id: number; text: string; sender_name: string }[] {
    return this.chat.messages;
  }

  get layout(): string {
    return this.stage.layout;
  }

  async start(): Promise<void> {
    if (new URLSearchParams(location.search).get("kiosk") === "1") this.ui.kiosk();
    if (!this.observer) await this.controls.local.acquire();
    if (this.controls.local.error && !this.controls.local.hasMic && !this.controls.local.hasCam) {
      this.ui.toast(this.s.t("no-media"), "error");
    }
    const self = this.stage.ensure("self", this.s.t("you"), true);
    for (const t of this.controls.local.stream.getTracks()) self.stream.addTrack(t);
    await this.controls.wire();
    this.render();
    window.setInterval(() => void this.sendStats(), STATS_EVERY_MS);
    await this.conn.connect();
  }

  send(msg: Json): boolean {
    return this.conn.send(msg);
  }

  setStatus(state: string, text: string): void {
    this.state = state;
    this.root.dataset.callState = state;
    const el = this.root.querySelector("[data-call-status]");
    if (el) el.textContent = text;
  }

  private setPhase(phase: string): void {
    this.phase = phase;
    this.root.dataset.phase = phase;
  }

  /** The server's messages, in order (see docs/signalling.md). */
  private async onMessage(msg: Json): Promise<void> {
    switch (msg.type) {
      case "joined":
        return this.onJoined(msg);
      case "published":
        return this.legs.onPublished(String(msg.sdp));
      case "offer":
        return this.legs.onOffer(String(msg.sdp));
      case "participant_joined": {
        const p = msg.participant as { id: string; name: string };
        this.names.set(p.id, p.name);
        return;
      }
      case "participant_left":
        this.stage.remove(String(msg.participant));
        return this.render();
      case "active_speaker":
        return this.stage.setSpeaker(String(msg.participant));
      case "rejoin":
        this.legs.close();
        this.sampler.reset();
        this.stage.removeRemotes();
        this.conn.restart();
        return;
      case "waiting":
        this.setPhase("waiting");
        this.setStatus("waiting", this.s.t("lobby-status"));
        this.ui.notice("waiting", this.s.t("waiting-title"), this.s.t("waiting-body"));
        return this.render();
      case "denied":
        return this.finish("denied", this.s.t("denied-title"), this.s.t("denied-body"));
      case "ended":
        return this.finish("ended", this.s.t("ended-title"), this.s.t("ended-body"));
      case "kicked":
        return this.finish("kicked", this.s.t("kicked-title"), this.s.t("kicked-body"));
      case "lobby":
        return this.onLobby(((msg.waiting as Json[]) ?? []).map((g) => ({ id: String(g.id), name: String(g.name) })));
      case "roster":
        return this.onRoster(msg);
      case "chat":
        return this.chat.receive((msg.message ?? {}) as Json);
      case "chat_ack":
        return this.chat.ack(String(msg.client_id), Number(msg.id));
      case "chat_history":
        return this.chat.history((msg.messages as Json[]) ?? []);
      case "muted":
        return this.onMuted(String(msg.kind) as Kind, msg.can_unmute !== false);
      case "unmuted":
        return this.onUnmuted(String(msg.kind) as Kind);
      case "allowed":
        return this.onAllowed(String(msg.kind) as Kind);
      case "rollcall":
        return this.controls.rollcall(String(msg.id));
      case "rollcall_status":
        return this.onRollcallStatus(msg);
      case "quality":
        return this.onQuality(msg);
      case "recording":
        return this.onRecording(msg);
      case "polls":
      case "questions":
        // Polls and Q&A live in their own island (engage.ts): tell it what changed.
        this.root.dispatchEvent(new CustomEvent("call:engage", { detail: msg.type }));
        return;
      case "error":
        return this.onError(String(msg.code ?? ""), String(msg.message ?? ""));
    }
  }

  private async onJoined(msg: Json): Promise<void> {
    this.resumed = msg.resumed === true;
    this.me = String(msg.participant);
    for (const p of (msg.participants as { id: string; name: string }[]) ?? []) this.names.set(p.id, p.name);
    if (this.phase === "waiting") this.ui.notice(null);
    this.setPhase("joined");
    this.setStatus("joined", this.stage.remoteCount > 0 ? "" : this.s.t("waiting"));
    const local = this.controls.local;
    const mediaIntact = this.resumed && this.legs.sub && (this.legs.pub || this.observer || !local.stream.getTracks().length);
    if (!mediaIntact) {
      this.legs.close();
      this.sampler.reset();
      this.stage.removeRemotes();
      this.hand = false;
      if (!this.observer) await this.legs.publish(local.stream, true);
      this.legs.subscribe();
      if (!this.consent && !this.isGuest) this.send({ type: "consent", recording: false });
    }
    this.reportMedia();
    this.chat.flush(true);
    this.render();
  }

  private onTrack(owner: string, track: MediaStreamTrack): void {
    if (!this.roster.some((p) => p.id === owner) && !this.names.has(owner)) {
      // a track whose publisher no roster names yet: it gets a tile once one does
      this.unplaced.set(owner, [...(this.unplaced.get(owner) ?? []), track]);
      return;
    }
    const entry = this.roster.find((p) => p.id === owner);
    this.stage.addTrack(owner, this.nameOf(owner), track);
    this.describe(owner, entry);
    this.setStatus("joined", "");
  }

  private nameOf(id: string): string {
    const entry = this.roster.find((p) => p.id === id);
    if (entry?.screen_of) return this.nameOf(entry.screen_of);
    return entry?.name ?? this.names.get(id) ?? id;
  }

  private describe(id: string, entry: RosterEntry | undefined): void {
    const screen = entry?.screen_of != null;
    const own = screen && entry?.screen_of === this.me;
    this.stage.describe(id, entry, this.nameOf(id), this.chair ? this.quality.get(id) : undefined, screen, own);
  }

  private onRoster(msg: Json): void {
    this.gotRoster = true;
    this.roster = ((msg.participants as Json[]) ?? []).map(rosterEntry);
    for (const [owner, tracks] of this.unplaced) {
      if (!this.roster.some((p) => p.id === owner)) continue;
      this.unplaced.delete(owner);
      for (const track of tracks) if (track.readyState === "live") this.onTrack(owner, track);
    }
    this.policy = parsePolicy(msg.policy);
    if ("recording" in msg) this.recordingState = recordingState(msg.recording);
    const mine = this.roster.find((p) => p.id === this.me);
    if (mine) {
      this.role = mine.role;
      this.root.dataset.role = mine.role;
      this.hand = mine.hand;
      this.chat.me = { identity: mine.identity, name: mine.name };
      if (!this.isGuest && mine.recording !== this.consent) {
        // the server keeps our choice across reloads and tabs: the checkbox follows it
        this.consent = mine.recording;
        const box = this.root.querySelector<HTMLInputElement>("[data-consent]");
        if (box) box.checked = this.consent;
      }
      for (const kind of ["audio", "video"] as const) {
        const held = mine.host_muted[kind];
        if (held && !this.mutedByHost[kind]) this.controls.local.set(kind, false);
        this.mutedByHost[kind] = held;
      }
    }
    this.canUnmute = this.policy.allow_unmute;
    this.stage.sync(this.roster, this.me, (id) => this.nameOf(id));
    for (const id of this.stage.tiles.keys()) if (id !== "self") this.describe(id, this.roster.find((p) => p.id === id));
    this.render();
  }

  private onLobby(waiting: LobbyEntry[]): void {
    const known = new Set(this.lobby.map((g) => g.id));
    const arrived = waiting.filter((g) => !known.has(g.id));
    this.lobby = waiting;
    if (arrived.length && this.chair) {
      chime();
      this.ui.toast(this.s.t("someone-waiting", { name: arrived.map((g) => g.name).join("、") }));
      this.controls.attention();
    }
    this.render();
  }

  private onMuted(kind: Kind, canUnmute: boolean): void {
    if (kind !== "audio" && kind !== "video") return;
    this.mutedByHost[kind] = true;
    this.canUnmute = canUnmute;
    this.controls.local.set(kind, false);
    this.ui.toast(this.s.t(kind === "audio" ? "host-muted-you" : "host-stopped-video"));
    this.reportMedia();
    this.render();
  }

  private onUnmuted(kind: Kind): void {
    if (kind !== "audio" && kind !== "video") return;
    this.mutedByHost[kind] = false;
    this.controls.local.set(kind, true);
    this.reportMedia();
    this.render();
  }

  /** The chair handed our microphone or camera back: we may switch it on ourselves. */
  private onAllowed(kind: Kind): void {
    if (kind !== "audio" && kind !== "video") return;
    this.mutedByHost[kind] = false;
    this.ui.toast(this.s.t(kind === "audio" ? "host-allowed-audio" : "host-allowed-video"));
    this.render();
  }

  private onRollcallStatus(msg: Json): void {
    this.rollcall = parseRollcall(msg, (id) => this.nameOf(id));
    this.render();
  }

  private onQuality(msg: Json): void {
    const q = parseQuality(msg);
    this.quality.set(q.participant, q);
    this.describe(q.participant, this.roster.find((p) => p.id === q.participant));
    this.render();
  }

  private onRecording(msg: Json): void {
    this.recordingState = recordingState(msg.state);
    const mine = this.roster.find((p) => p.id === this.me);
    this.recordingIncluded = includesUs(msg.included, this.me, mine?.identity) ?? this.recordingIncluded;
    this.render();
  }

  private onError(code: string, message = ""): void {
    if (code === "meeting.unmute_forbidden") this.canUnmute = false;
    if (code === "meeting.chat_rate") return; // the outbox sends it again shortly
    if (code === "media.participant_not_found") return; // a layer asked of someone who just left
    if (!this.me && this.phase !== "waiting") return; // a refused join: the close that follows says why
    const key = ERROR_KEYS[code];
    this.ui.toast(key ? this.s.t(key) : message || this.s.t("refused"), "error");
    this.render();
  }

  private onRefused(code: string, message = ""): void {
    if (code === "meeting.locked") return this.finish("refused", this.s.t("locked-title"), this.s.t("locked"));
    if (code === "meeting.ended") return this.finish("refused", this.s.t("ended-title"), this.s.t("ended-body"));
    if (code === "meeting.removed") return this.finish("refused", this.s.t("kicked-title"), this.s.t("kicked-body"));
    this.setStatus("refused", message || this.s.t("error"));
    this.finish("refused", this.s.t("error"), message || this.s.t("refused"));
  }

  /** The participation is over: stop media, say why, offer the way out. */
  private finish(phase: string, title: string, body: string): void {
    this.conn.stop(false);
    this.screen.stop(false);
    this.legs.close();
    this.stage.removeRemotes();
    this.controls.local.stop();
    this.setPhase(phase);
    if (phase !== "refused" || this.state !== "refused") this.setStatus(phase, "");
    this.ui.notice(phase, title, body);
    this.render();
  }

  leave(): void {
    this.conn.stop(true);
    this.screen.stop(true);
    this.legs.close();
    this.controls.local.stop();
    this.setStatus("left", "");
    window.location.assign(this.urls.leave);
  }

  /** Tell everyone our own microphone and camera state. */
  reportMedia(): void {
    if (this.phase !== "joined" || this.observer) return;
    const local = this.controls.local;
    this.send({ type: "media_state", audio: local.micOn, video: local.camOn });
  }

  private async sendStats(): Promise<void> {
    if (this.phase !== "joined" || !this.conn.open || (!this.legs.pub && !this.legs.sub)) return;
    const msg = statsMessage(await this.sampler.sample(this.legs.pub, this.legs.sub));
    if (msg) this.send(msg);
  }

  render(): void {
    this.people.render({
      me: this.me,
      chair: this.chair,
      roster: this.roster,
      policy: this.policy,
      lobby: this.lobby,
      recording: this.recordingState,
      quality: this.quality,
      rollcall: this.rollcall,
    });
    this.controls.render();
    this.stage.render();
    if (this.phase === "joined" && this.gotRoster) {
      const others = this.roster.filter((p) => p.id !== this.me && !p.screen_of).length;
      if (this.state === "joined") this.setStatus("joined", others || this.stage.remoteCount ? "" : this.s.t("waiting"));
    }
  }

  /** Inbound RTP figures per remote track (quality display and tests). */
  inboundStats(): Promise<InboundStat[]> {
    return this.legs.inbound();
  }

  /** Drop the socket as a network fault would (for resilience tests). */
  dropSocket(): void {
    this.conn.drop();
  }
}
