// The two WebRTC legs of one connection: publish (our camera/microphone or a shared
// screen) and subscribe (everyone else, grouped by publisher in a=msid).

import type { Json } from "./types";

type Leg = "publish" | "subscribe";

export interface InboundStat {
  kind: string;
  participant: string;
  framesDecoded: number;
  packetsReceived: number;
  bytesReceived: number;
  frameWidth: number;
}

export class Legs {
  pub: RTCPeerConnection | null = null;
  sub: RTCPeerConnection | null = null;
  /** Remote track id → the participant that publishes it. */
  readonly owners = new Map<string, string>();

  constructor(
    private readonly send: (msg: Json) => void,
    private readonly iceServers: () => RTCIceServer[],
    private readonly onTrack: (owner: string, track: MediaStreamTrack) => void = () => undefined,
  ) {}

  private peer(leg: Leg): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: "max-bundle" });
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

  /** Offer our tracks; camera video goes out in two simulcast layers (`l`, `h`). */
  async publish(stream: MediaStream, simulcast: boolean): Promise<void> {
    if (stream.getTracks().length === 0) return;
    const pc = this.peer("publish");
    this.pub = pc;
    for (const track of stream.getAudioTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    for (const track of stream.getVideoTracks()) {
      pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [stream],
        sendEncodings: simulcast
          ? [
              { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 250_000 },
              { rid: "h", maxBitrate: 2_500_000 },
            ]
          : [{ maxBitrate: 2_500_000 }],
      });
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: "publish", sdp: pc.localDescription?.sdp });
  }

  async onPublished(sdp: string): Promise<void> {
    await this.pub?.setRemoteDescription({ type: "answer", sdp });
  }

  subscribe(): void {
    const pc = this.peer("subscribe");
    this.sub = pc;
    pc.ontrack = (ev) => {
      const owner = ev.streams[0]?.id ?? ev.track.id;
      this.owners.set(ev.track.id, owner);
      this.onTrack(owner, ev.track);
    };
    this.send({ type: "subscribe" });
  }

  async onOffer(sdp: string): Promise<void> {
    if (!this.sub) return;
    await this.sub.setRemoteDescription({ type: "offer", sdp });
    await this.sub.setLocalDescription(await this.sub.createAnswer());
    this.send({ type: "answer", sdp: this.sub.localDescription?.sdp });
  }

  /** Swap a published track (device change) without renegotiating. */
  async replace(old: MediaStreamTrack | undefined, fresh: MediaStreamTrack): Promise<void> {
    const sender = this.pub?.getSenders().find((s) => s.track === old || (!s.track && old === undefined));
    await sender?.replaceTrack(fresh);
  }

  close(): void {
    this.pub?.close();
    this.sub?.close();
    this.pub = this.sub = null;
    this.owners.clear();
  }

  async inbound(): Promise<InboundStat[]> {
    if (!this.sub) return [];
    const out: InboundStat[] = [];
    (await this.sub.getStats()).forEach((r: Record<string, unknown>) => {
      if (r.type === "inbound-rtp") {
        out.push({
          kind: String(r.kind),
          participant: this.owners.get(String(r.trackIdentifier ?? "")) ?? "",
          framesDecoded: Number(r.framesDecoded ?? 0),
          packetsReceived: Number(r.packetsReceived ?? 0),
          bytesReceived: Number(r.bytesReceived ?? 0),
          frameWidth: Number(r.frameWidth ?? 0),
        });
      }
    });
    return out;
  }
}
