// Live notifications on every signed-in page: a bell with the unread count, toasts,
// and an incoming-call dialog (with a ring tone) for urgent meeting invitations.

interface Note {
  type: string;
  id?: number;
  kind?: string;
  title?: string;
  body?: string;
  link?: string | null;
  urgent?: boolean;
  unread?: number;
}

const bell = document.querySelector<HTMLElement>("[data-bell]");
const i18n = document.body.dataset;
let unread = 0;
let retry = 0;

function setUnread(n: number): void {
  unread = n;
  const badge = bell?.querySelector<HTMLElement>("[data-count]");
  if (badge) {
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
  }
}

function toast(note: Note): void {
  const box = document.createElement("div");
  box.className = "toast";
  box.setAttribute("role", "status");
  const title = document.createElement("strong");
  title.textContent = note.title ?? "";
  const body = document.createElement("div");
  body.textContent = note.body ?? "";
  box.append(title, body);
  if (note.link) box.addEventListener("click", () => window.location.assign(note.link ?? "/"));
  document.body.append(box);
  window.setTimeout(() => box.remove(), 8000);
}

function ringTone(): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => undefined;
  const ctx = new Ctx();
  const gain = ctx.createGain();
  gain.gain.value = 0.08;
  gain.connect(ctx.destination);
  const timer = window.setInterval(() => {
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(gain);
    osc.start();
    osc.stop(ctx.currentTime + 0.4);
  }, 1200);
  return () => {
    window.clearInterval(timer);
    void ctx.close();
  };
}

function incomingCall(note: Note): void {
  const dialog = document.createElement("dialog");
  dialog.className = "incoming-call";
  dialog.dataset.testid = "incoming-call";
  const heading = document.createElement("h2");
  heading.textContent = i18n.i18nIncoming ?? "Incoming call";
  const what = document.createElement("p");
  what.textContent = note.body ? `${note.title ?? ""} — ${note.body}` : (note.title ?? "");
  const join = document.createElement("button");
  join.textContent = i18n.i18nJoin ?? "Join";
  const later = document.createElement("button");
  later.className = "secondary";
  later.textContent = i18n.i18nDecline ?? "Later";
  const actions = document.createElement("div");
  actions.className = "row";
  actions.append(join, later);
  dialog.append(heading, what, actions);
  document.body.append(dialog);
  const stop = ringTone();
  const close = () => {
    stop();
    dialog.close();
    dialog.remove();
  };
  join.addEventListener("click", () => {
    close();
    window.location.assign(note.link ?? "/meetings");
  });
  later.addEventListener("click", close);
  window.setTimeout(close, 45_000);
  dialog.showModal();
}

function connect(): void {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/events`);
  ws.onmessage = (ev) => {
    const note = JSON.parse(String(ev.data)) as Note;
    if (note.type === "hello") {
      retry = 0;
      setUnread(note.unread ?? 0);
      return;
    }
    if (note.type !== "notification") return;
    // Worklists listen for this (htmx `hx-trigger="yiyun:notification from:body"`).
    document.body.dispatchEvent(new CustomEvent("yiyun:notification", { detail: note }));
    setUnread(unread + 1);
    // Pages listening for their domain refresh themselves (hx-trigger="yiyun:consult from:body").
    const domain = (note.kind ?? "").split(".")[0];
    if (domain) document.body.dispatchEvent(new CustomEvent(`yiyun:${domain}`, { detail: note }));
    if (note.urgent && note.kind === "meeting.ring") incomingCall(note);
    else toast(note);
  };
  ws.onclose = (ev) => {
    if (ev.code === 1008) return; // signed out
    window.setTimeout(connect, Math.min(10_000, 1000 * 2 ** retry++));
  };
}

if (bell) connect();
