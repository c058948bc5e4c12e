// The meeting-layer messages of /ws/signal (docs/signalling.md "Meetings"), as the call
// page reads them.

export type Json = Record<string, unknown>;
export type Role = "host" | "cohost" | "participant" | "observer" | "guest" | "screen";
export type Kind = "audio" | "video";
export type RecordingState = null | "recording" | "paused";

export interface RosterEntry {
  id: string;
  identity: string;
  name: string;
  role: Role;
  audio: boolean;
  video: boolean;
  hand: boolean;
  host_muted: { audio: boolean; video: boolean };
  screen_of: string | null;
  recording: boolean;
}

export interface Policy {
  locked: boolean;
  allow_unmute: boolean;
  waiting_room: boolean;
}

export interface LobbyEntry {
  id: string;
  name: string;
}

export interface ChatFile {
  id: number;
  name: string;
  size: number;
}

export interface ChatMessage {
  id: number;
  sender: string;
  sender_name: string;
  text: string;
  file: ChatFile | null;
  at: string;
}

export interface Quality {
  participant: string;
  mos: number;
  r: number;
  label: string;
  rtt_ms: number;
  loss_pct: number;
  jitter_ms: number;
}

export interface Urls {
  token: string;
  upload: string;
  files: string;
  leave: string;
}

export const CHAIR_ROLES: readonly string[] = ["host", "cohost"];

/** Lenient readers: the server is the source of truth, the page only shows it. */
export function rosterEntry(raw: Json): RosterEntry {
  const muted = (raw.host_muted ?? {}) as Json;
  return {
    id: String(raw.id ?? ""),
    identity: String(raw.identity ?? ""),
    name: String(raw.name ?? ""),
    role: String(raw.role ?? "participant") as Role,
    audio: raw.audio !== false,
    video: raw.video !== false,
    hand: raw.hand === true,
    host_muted: { audio: muted.audio === true, video: muted.video === true },
    screen_of: typeof raw.screen_of === "string" && raw.screen_of ? raw.screen_of : null,
    recording: raw.recording !== false,
  };
}

export function chatMessage(raw: Json): ChatMessage {
  const file = raw.file as Json | null | undefined;
  return {
    id: Number(raw.id),
    sender: String(raw.sender ?? ""),
    sender_name: String(raw.sender_name ?? ""),
    text: String(raw.text ?? ""),
    file: file
      ? {
          id: Number(file.id),
          name: String(file.filename ?? file.name ?? ""),
          size: Number(file.size ?? 0),
        }
      : null,
    at: String(raw.at ?? ""),
  };
}

export function recordingState(value: unknown): RecordingState {
  return value === "recording" || value === "paused" ? value : null;
}
