// The case-discussion workspace of a consultation: working notes co-edited as a Y.Text,
// notes and decisions each with its author (a Y.Map), images and documents pinned to
// the discussion (a Y.Map). Document kind "case-notes" (src/yiyun/consult/casework.py);
// the server drops edits from people who may only read.

import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";

type Entry = { id: string; type: "note" | "decision"; text: string; author: number; author_name: string; at: string };
type Link = { id: string; type: "study" | "document"; ref: number; title: string; author: number; author_name: string };

function newId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** Bind a textarea to a Y.Text: local typing becomes one minimal splice, remote edits
 * replace the value and keep the caret where it was relative to the text before it. */
function bindText(area: HTMLTextAreaElement, text: Y.Text, doc: Y.Doc): void {
  let last = text.toString();
  area.value = last;
  area.addEventListener("input", () => {
    const now = area.value;
    let start = 0;
    while (start < last.length && start < now.length && last[start] === now[start]) start++;
    let endOld = last.length;
    let endNew = now.length;
    while (endOld > start && endNew > start && last[endOld - 1] === now[endNew - 1]) {
      endOld--;
      endNew--;
    }
    doc.transact(() => {
      if (endOld > start) text.delete(start, endOld - start);
      if (endNew > start) text.insert(start, now.slice(start, endNew));
    }, "local");
    last = now;
  });
  text.observe((ev) => {
    if (ev.transaction.origin === "local") return;
    let caret = area.selectionStart;
    let pos = 0;
    for (const d of ev.delta) {
      if (d.retain) pos += d.retain;
      else if (typeof d.insert === "string") {
        if (pos < caret) caret += d.insert.length;
        pos += d.insert.length;
      } else if (d.delete) {
        if (pos < caret) caret -= Math.min(d.delete, caret - pos);
      }
    }
    last = text.toString();
    area.value = last;
    if (document.activeElement === area) area.setSelectionRange(caret, caret);
  });
}

class Workspace {
  private readonly doc = new Y.Doc();
  private readonly entries: Y.Map<Entry>;
  private readonly links: Y.Map<Link>;
  private readonly readonly: boolean;
  private readonly me: number;
  private readonly myName: string;

  constructor(private readonly root: HTMLElement) {
    this.readonly = root.dataset.readonly === "true";
    this.me = Number(root.dataset.userId);
    this.myName = root.dataset.userName ?? "";
    this.entries = this.doc.getMap<Entry>("entries");
    this.links = this.doc.getMap<Link>("links");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const provider = new WebsocketProvider(`${proto}//${location.host}${root.dataset.ws}`, root.dataset.key ?? "", this.doc, { disableBc: true, maxBackoffTime: 5000 });
    provider.on("status", (ev: { status: string }) => {
      root.dataset.status = ev.status;
      const s = root.querySelector<HTMLElement>("[data-case-status]");
      if (s) s.textContent = this.t(ev.status === "connected" ? "connected" : "reconnecting");
    });
    provider.on("sync", (synced: boolean) => {
      if (synced) root.dataset.synced = "true";
    });
    const area = root.querySelector<HTMLTextAreaElement>("[data-case-notes]")!;
    bindText(area, this.doc.getText("notes"), this.doc);
    area.readOnly = this.readonly;
    this.entries.observe(() => this.renderEntries());
    this.links.observe(() => this.renderLinks());
    this.wire();
    this.renderEntries();
    this.renderLinks();
  }

  private t(key: string): string {
    const camel = "i18n" + key.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
    return this.root.dataset[camel] ?? key;
  }

  private wire(): void {
    const form = this.root.querySelector<HTMLFormElement>("[data-entry-form]");
    form?.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = form.querySelector<HTMLTextAreaElement>("textarea")!;
      const text = input.value.trim();
      if (!text || this.readonly) return;
      const type = (ev as SubmitEvent).submitter?.getAttribute("value") === "decision" ? "decision" : "note";
      const id = newId();
      this.entries.set(id, { id, type, text: text.slice(0, 4000), author: this.me, author_name: this.myName, at: new Date().toISOString() });
      input.value = "";
    });
    this.root.addEventListener("click", (ev) => {
      const target = ev.target as HTMLElement;
      const pin = target.closest<HTMLElement>("[data-pin]");
      if (pin && !this.readonly) {
        const type = pin.dataset.pin === "document" ? "document" : "study";
        const ref = Number(pin.dataset.ref);
        const existing = [...this.links.values()].find((l) => l.type === type && l.ref === ref);
        if (existing) this.links.delete(existing.id);
        else {
          const id = newId();
          this.links.set(id, { id, type, ref, title: pin.dataset.title ?? "", author: this.me, author_name: this.myName });
        }
      }
      const remove = target.closest<HTMLElement>("[data-remove-entry]");
      if (remove && !this.readonly) this.entries.delete(remove.dataset.removeEntry!);
    });
  }

  private renderEntries(): void {
    const list = this.root.querySelector<HTMLElement>("[data-entries]")!;
    const items = [...this.entries.values()].sort((a, b) => a.at.localeCompare(b.at));
    list.dataset.count = String(items.length);
    this.root.querySelector<HTMLElement>("[data-entries-empty]")!.hidden = items.length > 0;
    list.replaceChildren(
      ...items.map((e) => {
        const when = new Date(e.at);
        const meta = el("span", { class: "muted small-print" }, `${e.author_name} · ${Number.isNaN(when.getTime()) ? "" : when.toLocaleString(document.documentElement.lang || undefined)}`);
        const li = el("li", { class: `case-entry ${e.type}`, "data-entry": e.type }, e.type === "decision" ? el("span", { class: "badge ok" }, this.t("decision")) : "", el("p", {}, e.text), meta);
        if (!this.readonly && e.author === this.me) li.append(el("button", { type: "button", class: "small secondary", "data-remove-entry": e.id }, this.t("remove")));
        return li;
      }),
    );
  }

  private renderLinks(): void {
    const pinned = [...this.links.values()];
    for (const b of this.root.querySelectorAll<HTMLElement>("[data-pin]")) {
      const link = pinned.find((l) => l.type === b.dataset.pin && l.ref === Number(b.dataset.ref));
      b.setAttribute("aria-pressed", String(Boolean(link)));
      const by = b.parentElement?.querySelector<HTMLElement>("[data-pinned-by]");
      if (by) by.textContent = link ? `${this.t("pinned-by")} ${link.author_name}` : "";
    }
    this.root.dataset.pinned = String(pinned.length);
  }
}

const root = document.querySelector<HTMLElement>("[data-casework]");
if (root) new Workspace(root);
