// One /ws/signal connection: fetch a room token, join (resuming the previous session
// when there is one), hand every server message to the page in order, and reconnect by
// itself with back-off until the page stops it.

import { csrf } from "./dom";
import type { Json } from "./types";

export type LinkState = "connecting" | "open" | "reconnecting";

export interface SignalOptions {
  tokenUrl: string;
  /** JSON body of the token request (a screen share asks with `{purpose: "screen"}`). */
  tokenBody?: Json;
  /** Extra fields of each `join` (the main connection sends `chat_after`). */
  joinFields?: () => Json;
  onMessage: (msg: Json) => Promise<void> | void;
  onState?: (state: LinkState) => void;
  /** The server refused for good (bad token, locked meeting, ended meeting…), with its
   * own sentence when it sent one (already in the user's language). */
  onRefused: (code: string, message?: string) => void;
}

class Refused extends Error {
  constructor(
    readonly code: string,
    readonly sentence = "",
  ) {
    super(code);
  }
}

export class SignalConnection {
  session: string | null = null;
  iceServers: RTCIceServer[] = [];
  private ws: WebSocket | null = null;
  private retry = 0;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SignalOptions) {}

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get active(): boolean {
    return !this.stopped;
  }

  send(msg: Json): boolean {
    if (!this.open) return false;
    this.ws?.send(JSON.stringify({ v: 1, ...msg }));
    return true;
  }

  private async token(): Promise<string> {
    const body = this.opts.tokenBody;
    const res = await fetch(this.opts.tokenUrl, {
      method: "POST",
      headers: {
        "X-CSRF-Token": csrf(),
        Accept: "application/json",
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    if (res.status >= 400 && res.status < 500 && res.status !== 429) {
      const err = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw new Refused(err.error?.code ?? `http.${res.status}`, err.error?.message ?? "");
    }
    if (!res.ok) throw new Error(`token ${res.status}`);
    const data = (await res.json()) as { token: string; ice_servers?: RTCIceServer[] };
    this.iceServers = data.ice_servers ?? [];
    return data.token;
  }

  async connect(): Promise<void> {
    if (this.stopped) return;
    this.opts.onState?.(this.retry === 0 && !this.session ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      if (err instanceof Refused) {
        this.stopped = true;
        this.opts.onRefused(err.code, err.sentence);
      } else {
        this.later();
      }
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/signal`);
    this.ws = ws;
    ws.onopen = () => {
      const join = { v: 1, type: "join", token, resume: this.session, ...(this.opts.joinFields?.() ?? {}) };
      ws.send(JSON.stringify(join));
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as Json;
      // The end of the participation: the close that follows must not reconnect.
      if (msg.type === "denied" || msg.type === "ended" || msg.type === "kicked") this.stopped = true;
      if (msg.type === "joined") {
        this.retry = 0;
        this.session = String(msg.session);
        this.opts.onState?.("open");
      }
      // One at a time: SDP handling is asynchronous and must keep the server's order.
      this.queue = this.queue
        .then(() => this.opts.onMessage(msg))
        .catch((err: unknown) => console.error("signal message failed", msg.type, err));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      if (ev.code === 1008 && /^(media|meeting)\./.test(ev.reason)) {
        this.stopped = true;
        this.opts.onRefused(ev.reason);
        return;
      }
      this.later();
    };
  }

  private later(): void {
    if (this.stopped) return;
    this.opts.onState?.("reconnecting");
    const delay = Math.min(8000, 500 * 2 ** this.retry++);
    window.setTimeout(() => void this.connect(), delay);
  }

  /** Forget the session: the next join starts afresh (after `rejoin`). */
  restart(): void {
    this.session = null;
    this.ws?.close(4001, "rejoin");
  }

  /** Leave for good (sends `leave` when asked to). */
  stop(leave: boolean): void {
    this.stopped = true;
    if (leave) this.send({ type: "leave" });
    this.ws?.close(1000, "bye");
    this.ws = null;
  }

  /** Drop the socket as a network fault would (resilience tests). */
  drop(): void {
    this.ws?.close(4000, "simulated drop");
  }
}
