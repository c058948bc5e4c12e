// Screen sharing: a second /ws/signal connection (token with `{purpose: "screen"}`)
// that publishes only the getDisplayMedia track. Stopping it here, the browser's own
// "stop sharing" or the host's `stop_share` all end it.

import { Legs } from "./media";
import { SignalConnection } from "./signal";
import type { Json } from "./types";

export class ScreenShare {
  private conn: SignalConnection | null = null;
  private legs: Legs | null = null;
  private stream: MediaStream | null = null;

  constructor(
    private readonly tokenUrl: string,
    private readonly onChange: (sharing: boolean) => void,
    private readonly onError: (code: string) => void,
  ) {}

  get active(): boolean {
    return this.stream !== null;
  }

  async start(): Promise<void> {
    if (this.stream) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = "detail";
    track.onended = () => this.stop();
    this.stream = stream;
    const conn = new SignalConnection({
      tokenUrl: this.tokenUrl,
      tokenBody: { purpose: "screen" },
      onMessage: (msg) => this.onMessage(msg),
      onRefused: (code) => {
        this.stop(false);
        this.onError(code);
      },
    });
    this.conn = conn;
    this.legs = new Legs(
      (msg) => conn.send(msg),
      () => conn.iceServers,
    );
    this.onChange(true);
    await conn.connect();
  }

  private async onMessage(msg: Json): Promise<void> {
    const legs = this.legs;
    if (!legs || !this.stream) return;
    switch (msg.type) {
      case "joined":
        if (msg.resumed === true && legs.pub) return;
        legs.close();
        await legs.publish(this.stream, false);
        break;
      case "published":
        await legs.onPublished(String(msg.sdp));
        break;
      case "rejoin":
        legs.close();
        this.conn?.restart();
        break;
      case "kicked":
      case "ended":
      case "denied":
        this.stop(false);
        break;
      case "error":
        this.onError(String(msg.code ?? ""));
        break;
    }
  }

  stop(leave = true): void {
    if (!this.stream) return;
    this.conn?.stop(leave);
    this.legs?.close();
    for (const t of this.stream.getTracks()) t.stop();
    this.conn = null;
    this.legs = null;
    this.stream = null;
    this.onChange(false);
  }

  drop(): void {
    this.conn?.drop();
  }
}
