// Reading the meeting layer's messages into the page's state (pure functions), and the
// `stats` message from a quality.ts summary.

import type { Summary } from "../quality";
import type { Json, Policy, Quality } from "./types";

/** Refusals the page explains in words (the keys are `data-i18n-*` on #call). */
export const ERROR_KEYS: Record<string, string> = {
  "meeting.unmute_forbidden": "unmute-forbidden",
  "meeting.host_only": "host-only",
  "meeting.no_recording_consent": "no-recording-consent",
  "meeting.chat_rate": "chat-rate",
  "meeting.locked": "locked",
  "meeting.ended": "ended-body",
  "meeting.screen_busy": "screen-busy",
  "meeting.recording_active": "recording-active",
  "meeting.chat_forbidden": "chat-forbidden",
};

export function parsePolicy(raw: unknown): Policy {
  const policy = (raw ?? {}) as Json;
  return {
    locked: policy.locked === true,
    allow_unmute: policy.allow_unmute !== false,
    waiting_room: policy.waiting_room !== false,
  };
}

export function parseQuality(msg: Json): Quality {
  return {
    participant: String(msg.participant),
    mos: Number(msg.mos ?? 0),
    r: Number(msg.r ?? 0),
    label: String(msg.label ?? ""),
    rtt_ms: Number(msg.rtt_ms ?? 0),
    loss_pct: Number(msg.loss_pct ?? 0),
    jitter_ms: Number(msg.jitter_ms ?? 0),
  };
}

export interface RollcallView {
  id: string;
  answered: number;
  pending: number;
  names: string;
}

/** `answered` and `pending` are participant ids (plain counts are accepted too). */
export function parseRollcall(msg: Json, nameOf: (id: string) => string): RollcallView {
  const count = (v: unknown) => (Array.isArray(v) ? v.length : Number(v ?? 0));
  const pending = Array.isArray(msg.pending) ? (msg.pending as unknown[]).map((p) => nameOf(String(p))) : [];
  const names = pending.join(document.documentElement.lang.startsWith("zh") ? "、" : ", ");
  return { id: String(msg.id), answered: count(msg.answered), pending: count(msg.pending), names };
}

/** Whether `recording {included}` (participant ids, or a boolean) includes us. */
export function includesUs(included: unknown, participant: string, identity: string | undefined): boolean | null {
  if (typeof included === "boolean") return included;
  if (!Array.isArray(included)) return null;
  return included.includes(participant) || (identity !== undefined && included.includes(identity));
}

/** The `stats` message for a summary; null while there is nothing measured yet. */
export function statsMessage(s: Summary): Json | null {
  if (s.rtt_ms === null && s.loss_pct === null && s.jitter_ms === null) return null;
  return {
    type: "stats",
    rtt_ms: s.rtt_ms ?? 0,
    jitter_ms: s.jitter_ms ?? 0,
    loss_pct: s.loss_pct ?? 0,
    send_kbps: s.send_kbps,
    recv_kbps: s.recv_kbps,
    fps: Math.min(240, s.fps),
    width: s.width,
    height: s.height,
  };
}
