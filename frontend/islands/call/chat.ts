// Meeting chat that survives reconnects: every message gets a client_id and stays in
// an outbox until the server acknowledges it (re-sent with the same client_id, which
// the server stores once); incoming messages are de-duplicated by id and shown in id
// order; a join asks for everything after the highest id we have.

import { clientId, clock, csrf, fileSize, h, type Strings } from "./dom";
import { icon } from "./icons";
import { chatMessage, type ChatFile, type ChatMessage, type Json } from "./types";

interface Pending {
  client_id: string;
  text: string;
  file: ChatFile | null;
  sentAt: number;
  /** The id from `chat_ack`; the message itself may not have reached us yet. */
  id: number | null;
}

const RESEND_AFTER_MS = 4000;

export class Chat {
  private readonly received = new Map<number, ChatMessage>();
  private readonly outbox = new Map<string, Pending>();
  private readonly list: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private unread = 0;
  open = false;
  me = { identity: "", name: "" };

  constructor(
    private readonly panel: HTMLElement,
    private readonly s: Strings,
    private readonly send: (msg: Json) => boolean,
    private readonly urls: { upload: string; files: string },
    private readonly onUnread: (count: number) => void,
    private readonly toast: (text: string, kind?: "info" | "error") => void,
  ) {
    this.list = panel.querySelector<HTMLElement>("[data-messages]")!;
    this.input = panel.querySelector<HTMLTextAreaElement>("[data-chat-input]")!;
    const form = panel.querySelector<HTMLFormElement>("[data-chat-form]")!;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    const file = panel.querySelector<HTMLInputElement>("[data-chat-file]")!;
    file.addEventListener("change", () => {
      const chosen = file.files?.[0];
      file.value = "";
      if (chosen) void this.attach(chosen);
    });
    window.setInterval(() => this.flush(false), 2000);
  }

  /** The highest message id we hold (for `join {chat_after}`). */
  get lastId(): number {
    let max = 0;
    for (const id of this.received.keys()) max = Math.max(max, id);
    return max;
  }

  /** Every message we know the id of, in id order (acknowledged ones of ours included). */
  get messages(): ChatMessage[] {
    const all = new Map(this.received);
    for (const p of this.outbox.values()) {
      if (p.id !== null && !all.has(p.id)) {
        all.set(p.id, { id: p.id, sender: this.me.identity, sender_name: this.me.name, text: p.text, file: p.file, at: "" });
      }
    }
    return [...all.values()].sort((a, b) => a.id - b.id);
  }

  setOpen(open: boolean): void {
    this.open = open;
    if (open) {
      this.unread = 0;
      this.onUnread(0);
      this.list.scrollTop = this.list.scrollHeight;
      this.input.focus();
    }
  }

  receive(raw: Json): void {
    this.add([chatMessage(raw)], true);
  }

  history(raw: Json[]): void {
    this.add(raw.map(chatMessage), false);
  }

  ack(client: string, id: number): void {
    const p = this.outbox.get(client);
    if (!p) return;
    p.id = id;
    if (this.received.has(id)) this.outbox.delete(client);
    this.render();
  }

  private add(messages: ChatMessage[], live: boolean): void {
    let fresh = 0;
    for (const m of messages) {
      if (!Number.isFinite(m.id) || this.received.has(m.id)) continue;
      this.received.set(m.id, m);
      for (const [client, p] of this.outbox) if (p.id === m.id) this.outbox.delete(client);
      if (m.sender !== this.me.identity) fresh++;
    }
    if (fresh && live && !this.open) {
      this.unread += fresh;
      this.onUnread(this.unread);
    }
    this.render();
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.queue({ client_id: clientId(), text, file: null, sentAt: 0, id: null });
  }

  private queue(p: Pending): void {
    this.outbox.set(p.client_id, p);
    this.transmit(p);
    this.render();
  }

  private transmit(p: Pending): void {
    const msg: Json = { type: "chat", client_id: p.client_id, text: p.text };
    if (p.file) msg.file_id = p.file.id;
    if (this.send(msg)) p.sentAt = Date.now();
  }

  /** Send again what the server has not acknowledged (all of it after a reconnect). */
  flush(all: boolean): void {
    const now = Date.now();
    let budget = 4; // the server takes at most 5 chat messages a second
    for (const p of this.outbox.values()) {
      if (p.id !== null || budget <= 0) continue;
      if (all || now - p.sentAt > RESEND_AFTER_MS) {
        this.transmit(p);
        budget--;
      }
    }
  }

  private async attach(file: File): Promise<void> {
    const form = new FormData();
    form.append("file", file);
    const note = this.s.t("uploading", { name: file.name });
    this.toast(note);
    try {
      const res = await fetch(this.urls.upload, {
        method: "POST",
        body: form,
        headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!res.ok) {
        this.toast(await this.refusal(res, file.name), "error");
        return;
      }
      const data = (await res.json()) as Json;
      const meta: ChatFile = {
        id: Number(data.id),
        name: String(data.filename ?? data.name ?? file.name),
        size: Number(data.size ?? file.size),
      };
      this.queue({ client_id: clientId(), text: "", file: meta, sentAt: 0, id: null });
    } catch {
      this.toast(this.s.t("upload-failed", { name: file.name }), "error");
    }
  }

  /** Why the server refused a file, and what it accepts, in the user's language. */
  private async refusal(res: Response, name: string): Promise<string> {
    type Refusal = { error?: { message?: string; details?: { extensions?: string[]; max_bytes?: number } } };
    const body = (await res.json().catch(() => ({}))) as Refusal;
    const parts = [this.s.t("upload-failed", { name })];
    if (body.error?.message) parts.push(body.error.message);
    const exts = body.error?.details?.extensions ?? [];
    if (exts.length) parts.push(this.s.t("upload-allowed", { types: exts.join(" ") }));
    const max = body.error?.details?.max_bytes;
    if (max) parts.push(this.s.t("upload-limit", { size: `${Math.floor(max / 1048576)} MB` }));
    return parts.join(" · ");
  }

  private item(m: { id: number | null; sender_name: string; text: string; file: ChatFile | null; at: string }, mine: boolean, pending: boolean): HTMLElement {
    return h(
      "li",
      { class: `msg${mine ? " mine" : ""}${pending ? " pending" : ""}`, "data-id": m.id === null ? undefined : String(m.id) },
      h("div", { class: "meta" }, h("strong", {}, m.sender_name), " ", h("time", {}, pending ? this.s.t("sending") : clock(m.at))),
      m.text && h("div", { class: "text" }, m.text),
      m.file &&
        h(
          "a",
          { class: "file", href: `${this.urls.files}${m.file.id}`, download: m.file.name, target: "_blank", rel: "noopener" },
          icon("clip"),
          h("span", { class: "fname" }, m.file.name),
          h("span", { class: "fsize" }, fileSize(m.file.size)),
        ),
    );
  }

  private render(): void {
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const items = this.messages.map((m) => this.item(m, m.sender === this.me.identity, false));
    for (const p of this.outbox.values()) {
      if (p.id === null) items.push(this.item({ ...p, sender_name: this.me.name || this.s.t("you"), at: "" }, true, true));
    }
    this.list.replaceChildren(...items);
    this.panel.querySelector<HTMLElement>("[data-chat-empty]")?.toggleAttribute("hidden", items.length > 0);
    if (atEnd || this.open) this.list.scrollTop = this.list.scrollHeight;
  }
}
