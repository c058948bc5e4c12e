// The whiteboard's Yjs document (schema v1, see collab/docs.py WhiteboardDoc) and the
// connection to /ws/docs/{kind}/{key}. Every local edit runs in a transaction with
// LOCAL as origin, so Y.UndoManager undoes only this user's own edits.

import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";

export const LOCAL = { local: true };

export type Tool =
  | "select" | "pen" | "rect" | "ellipse" | "line" | "arrow" | "text" | "note" | "image" | "eraser" | "laser";

export interface Element {
  id: string;
  page: string;
  type: "pen" | "rect" | "ellipse" | "line" | "arrow" | "text" | "note" | "image";
  x: number;
  y: number;
  w: number;
  h: number;
  points?: number[];
  color: string;
  width: number;
  text?: string;
  src?: string;
  author: string;
  z: number;
}

export interface Page {
  id: string;
  name: string;
}

export interface View {
  x: number;
  y: number;
  zoom: number;
  page: string;
}

export interface Presence {
  user?: { id: string; name: string; color: string };
  cursor?: { x: number; y: number; page: string } | null;
  laser?: { x: number; y: number; t: number }[] | null;
  view?: View;
}

export class BoardModel {
  readonly doc = new Y.Doc();
  readonly elements: Y.Map<Element>;
  readonly pages: Y.Array<Page>;
  readonly meta: Y.Map<unknown>;
  readonly undo: Y.UndoManager;
  readonly provider: WebsocketProvider;

  constructor(wsBase: string, key: string) {
    this.elements = this.doc.getMap<Element>("elements");
    this.pages = this.doc.getArray<Page>("pages");
    this.meta = this.doc.getMap("meta");
    this.undo = new Y.UndoManager([this.elements, this.pages], { trackedOrigins: new Set([LOCAL]), captureTimeout: 300 });
    this.provider = new WebsocketProvider(wsBase, key, this.doc, { disableBc: true, maxBackoffTime: 5000 });
  }

  edit(fn: () => void): void {
    this.doc.transact(fn, LOCAL);
  }

  pageList(): Page[] {
    const seen = new Set<string>();
    const out: Page[] = [];
    for (const p of this.pages.toArray()) {
      if (seen.has(p.id)) continue; // two people created the first page at once
      seen.add(p.id);
      out.push(p);
    }
    return out;
  }

  onPage(page: string): Element[] {
    const out: Element[] = [];
    this.elements.forEach((e) => {
      if (e.page === page) out.push(e);
    });
    return out.sort((a, b) => a.z - b.z || (a.id < b.id ? -1 : 1));
  }

  put(e: Element): void {
    this.edit(() => this.elements.set(e.id, e));
  }

  remove(ids: string[]): void {
    if (!ids.length) return;
    this.edit(() => {
      for (const id of ids) this.elements.delete(id);
    });
  }
}

export function newId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID().slice(0, 12);
  return Math.random().toString(36).slice(2, 14);
}
