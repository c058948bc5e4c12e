// The call page: publish camera+microphone (simulcast), subscribe to everyone else,
// render a grid, switch devices, and reconnect by itself. Speaks the /ws/signal
// protocol (v1); the server hides which media engine is behind it.

type Json = Record<string, unknown>;
type Leg = "publish" | "subscribe";

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  stream: MediaStream;
  name: string;
}

const root = document.getElementById("call") as HTMLElement | null;

function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

class Call {
  private ws: WebSocket | null = null;
  private pub: RTCPeerConnection | null = null;
  private sub: RTCPeerConnection | null = null;
  private local: MediaStream | null = null;
  private session: string | null = null;
  private closedByUser = false;
  private retry = 0;
  private iceServers: RTCIceServer[] = [];
  readonly tiles = new Map<string, Tile>();
  readonly names = new Map<string, string>();
  me = "";
  state = "connecting";
  activeSpeaker = "";

  constructor(private readonly root: HTMLElement, private readonly meetingId: string) {}

  private t(key: string): string {
    return this.root.dataset[key] ?? key;
  }

  private setStatus(state: string, text: string): void {
    this.state = state;
    this.root.dataset.callState = state;
    const el = this.root.querySelector("[data-call-status]");
    if (el) el.textContent = text;
  }

  async start(): Promise<void> {
    try {
      this.local = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: 30 } },
      });
    } catch (err) {
      this.setStatus("no-media", String(err));
      this.local = new MediaStream();
    }
    this.ensureTile("self", this.t("i18nYou"), this.local, true);
    await this.fillDevices();
    this.wireControls();
    await this.connect();
  }

  private async token(): Promise<string> {
    const res = await fetch(`/api/v1/meetings/${this.meetingId}/token`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!res.ok) throw new Error(`token ${res.status}`);
    const body = (await res.json()) as { token: string; ice_servers: RTCIceServer[] };
    this.iceServers = body.ice_servers ?? [];
    return body.token;
  }

  private send(msg: Json): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ v: 1, ...msg }));
  }

  private async connect(): Promise<void> {
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      this.setStatus("error", `${this.t("i18nError")}: ${String(err)}`);
      return;
    }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/signal`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: "join", token, resume: this.session }));
    ws.onmessage = (ev) => void this.onMessage(JSON.parse(String(ev.data)) as Json);
    ws.onclose = (ev) => {
      if (this.closedByUser) return;
      if (ev.code === 1008 && ev.reason.startsWith("media.")) {
        this.setStatus("refused", `${this.t("i18nError")} (${ev.reason})`);
        return;
      }
      this.setStatus("reconnecting", this.t("i18nReconnecting"));
      const delay = Math.min(8000, 500 * 2 ** this.retry++);
      window.setTimeout(() => void this.connect(), delay);
    };
  }

  private async onMessage(msg: Json): Promise<void> {
    switch (msg.type) {
      case "joined":
        await this.onJoined(msg);
        break;
      case "published":
        await this.pub?.setRemoteDescription({ type: "answer", sdp: String(msg.sdp) });
        break;
      case "offer":
        await this.onOffer(String(msg.sdp));
        break;
      case "participant_joined": {
        const p = msg.participant as { id: string; name: string };
        this.names.set(p.id, p.name);
        break;
      }
      case "participant_left":
        this.removeTile(String(msg.participant));
        break;
      case "active_speaker":
        this.activeSpeaker = String(msg.participant);
        for (const [id, tile] of this.tiles) tile.el.classList.toggle("speaking", id === this.activeSpeaker);
        break;
      case "rejoin":
        this.resetPeers();
        this.session = null;
        this.ws?.close();
        break;
      case "kicked":
        this.closedByUser = true;
        this.setStatus("kicked", String(msg.reason ?? "kicked"));
        this.resetPeers();
        break;
      case "error":
        console.warn("signal error", msg.code, msg.message);
        break;
    }
  }

  resumed = false;

  private async onJoined(msg: Json): Promise<void> {
    this.retry = 0;
    this.resumed = msg.resumed === true;
    this.me = String(msg.participant);
    this.session = String(msg.session);
    for (const p of (msg.participants as { id: string; name: string }[]) ?? []) this.names.set(p.id, p.name);
    this.setStatus("joined", this.tiles.size > 1 ? "" : this.t("i18nWaiting"));
    if (msg.resumed && this.pub && this.sub) return;
    this.resetPeers();
    await this.publish();
    this.sub = this.peer("subscribe");
    this.sub.ontrack = (ev) => this.onTrack(ev);
    this.send({ type: "subscribe" });
  }

  private peer(leg: Leg): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      this.send({
        type: "trickle",
        leg,
        candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
      });
    };
    return pc;
  }

  private async publish(): Promise<void> {
    if (!this.local) return;
    const pc = this.peer("publish");
    this.pub = pc;
    for (const track of this.local.getAudioTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
    for (const track of this.local.getVideoTracks()) {
      pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [this.local],
        sendEncodings: [
          { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 250_000 },
          { rid: "h", maxBitrate: 2_500_000 },
        ],
      });
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: "publish", sdp: pc.localDescription?.sdp });
  }

  private async onOffer(sdp: string): Promise<void> {
    if (!this.sub) return;
    await this.sub.setRemoteDescription({ type: "offer", sdp });
    await this.sub.setLocalDescription(await this.sub.createAnswer());
    this.send({ type: "answer", sdp: this.sub.localDescription?.sdp });
  }

  private onTrack(ev: RTCTrackEvent): void {
    const owner = ev.streams[0]?.id ?? ev.track.id;
    const tile = this.ensureTile(owner, this.names.get(owner) ?? owner, new MediaStream(), false);
    tile.stream.addTrack(ev.track);
    ev.track.onended = () => tile.stream.removeTrack(ev.track);
    this.setStatus("joined", "");
    this.chooseLayers();
  }

  private readonly layers = new Map<string, string>();

  /** Ask for the high simulcast layer only where a tile is big enough to show it. */
  private chooseLayers(): void {
    for (const [id, tile] of this.tiles) {
      if (id === "self") continue;
      const layer = tile.video.clientWidth >= 480 ? "high" : "low";
      if (this.layers.get(id) !== layer) {
        this.layers.set(id, layer);
        this.send({ type: "layer", publisher: id, layer });
      }
    }
  }

  private ensureTile(id: string, name: string, stream: MediaStream, self: boolean): Tile {
    const existing = this.tiles.get(id);
    if (existing) return existing;
    const el = document.createElement("figure");
    el.className = self ? "tile self" : "tile";
    el.dataset.participant = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = self;
    video.srcObject = stream;
    const caption = document.createElement("figcaption");
    caption.textContent = name;
    el.append(video, caption);
    this.root.querySelector("[data-grid]")?.append(el);
    const tile = { el, video, stream, name };
    this.tiles.set(id, tile);
    return tile;
  }

  private removeTile(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.el.remove();
    this.tiles.delete(id);
    if (this.tiles.size <= 1) this.setStatus("joined", this.t("i18nWaiting"));
  }

  private resetPeers(): void {
    this.pub?.close();
    this.sub?.close();
    this.pub = this.sub = null;
    for (const id of [...this.tiles.keys()]) if (id !== "self") this.removeTile(id);
  }

  private async fillDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const select of this.root.querySelectorAll<HTMLSelectElement>("select[data-device]")) {
      select.replaceChildren(
        ...devices
          .filter((d) => d.kind === select.dataset.device)
          .map((d, i) => new Option(d.label || `${d.kind} ${i + 1}`, d.deviceId)),
      );
      select.onchange = () => void this.switchDevice(select.dataset.device as MediaDeviceKind, select.value);
    }
  }

  private async switchDevice(kind: MediaDeviceKind, deviceId: string): Promise<void> {
    const constraints = kind === "videoinput" ? { video: { deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } };
    const fresh = await navigator.mediaDevices.getUserMedia(constraints);
    const track = fresh.getTracks()[0];
    if (!track || !this.local) return;
    const old = kind === "videoinput" ? this.local.getVideoTracks()[0] : this.local.getAudioTracks()[0];
    const sender = this.pub?.getSenders().find((s) => s.track === old);
    await sender?.replaceTrack(track);
    if (old) {
      this.local.removeTrack(old);
      old.stop();
    }
    this.local.addTrack(track);
  }

  private wireControls(): void {
    this.root.querySelector("[data-action=leave]")?.addEventListener("click", () => this.leave());
    this.root.querySelector("[data-action=mute]")?.addEventListener("click", (ev) => {
      for (const t of this.local?.getAudioTracks() ?? []) t.enabled = !t.enabled;
      (ev.target as HTMLElement).classList.toggle("on");
    });
    this.root.querySelector("[data-action=camera]")?.addEventListener("click", (ev) => {
      for (const t of this.local?.getVideoTracks() ?? []) t.enabled = !t.enabled;
      (ev.target as HTMLElement).classList.toggle("on");
    });
    window.addEventListener("beforeunload", () => this.send({ type: "leave" }));
    window.addEventListener("resize", () => this.chooseLayers());
  }

  leave(): void {
    this.closedByUser = true;
    this.send({ type: "leave" });
    this.resetPeers();
    for (const t of this.local?.getTracks() ?? []) t.stop();
    this.ws?.close();
    this.setStatus("left", "");
    window.location.assign("/meetings");
  }

  /** Inbound RTP figures per remote track (quality display and tests). */
  async inboundStats(): Promise<{ kind: string; framesDecoded: number; packetsReceived: number; frameWidth: number }[]> {
    if (!this.sub) return [];
    const out: { kind: string; framesDecoded: number; packetsReceived: number; frameWidth: number }[] = [];
    (await this.sub.getStats()).forEach((r: Record<string, unknown>) => {
      if (r.type === "inbound-rtp") {
        out.push({
          kind: String(r.kind),
          framesDecoded: Number(r.framesDecoded ?? 0),
          packetsReceived: Number(r.packetsReceived ?? 0),
          frameWidth: Number(r.frameWidth ?? 0),
        });
      }
    });
    return out;
  }

  /** Drop the socket as a network fault would (for resilience tests). */
  dropSocket(): void {
    this.ws?.close(4000, "simulated drop");
  }
}

if (root) {
  const call = new Call(root, root.dataset.meetingId ?? "");
  (window as unknown as { yiyunCall: Call }).yiyunCall = call;
  void call.start();
}
