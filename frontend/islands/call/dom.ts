// Small DOM helpers for the call page: element builder, translated strings, formatting.

type Child = Node | string | null | undefined | false;

/** `h("button", {class: "x", "data-action": "mute"}, "Mute")` */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

/** Strings come from the template (`data-i18n-*` on #call), already translated. */
export class Strings {
  constructor(private readonly root: HTMLElement) {}

  /** `t("mute")` reads `data-i18n-mute`; `{name}` placeholders are filled from `vars`. */
  t(key: string, vars: Record<string, string | number> = {}): string {
    const camel = "i18n" + key.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
    let text = this.root.dataset[camel] ?? key;
    for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }
}

export function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

export function clientId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function clock(at: string | undefined): string {
  const d = at ? new Date(at) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
}

export function initials(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) return "?";
  // CJK names: the family name (first character); others: up to two initials.
  if (/^[\u3400-\u9fff]/.test(trimmed)) return trimmed.slice(0, 1);
  return trimmed
    .split(/\s+/)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? "")
    .join("");
}

let audio: AudioContext | null = null;

/** A short two-note chime (someone is waiting); silent where audio is not allowed yet. */
export function chime(): void {
  try {
    audio ??= new AudioContext();
    const ctx = audio;
    for (const [i, freq] of [880, 1175].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + i * 0.18 + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.32);
    }
  } catch {
    // No audio output (autoplay policy, no device): the visual cue is enough.
  }
}
