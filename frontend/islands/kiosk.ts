// A room terminal's kiosk: rung like a person. A ring from /ws/kiosk (a meeting
// invitation, the emergency "convene all sites") shows a full-screen call with one
// button that joins; the list of upcoming meetings refreshes itself (htmx).

interface Ring {
  type: string;
  meeting_id?: number;
  title?: string;
}

const overlay = document.querySelector<HTMLElement>("[data-testid=kiosk-ring]");
const titleEl = overlay?.querySelector<HTMLElement>("[data-ring-title]");
const joinEl = overlay?.querySelector<HTMLAnchorElement>("[data-ring-join]");
let stopTone: (() => void) | null = null;
let retry = 0;

function tone(): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => undefined;
  const ctx = new Ctx();
  const gain = ctx.createGain();
  gain.gain.value = 0.1;
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

function hide(): void {
  if (overlay) overlay.hidden = true;
  stopTone?.();
  stopTone = null;
}

function ring(msg: Ring): void {
  if (!overlay || !joinEl || msg.meeting_id === undefined) return;
  if (titleEl) titleEl.textContent = msg.title ?? "";
  joinEl.href = `/kiosk/meetings/${msg.meeting_id}`;
  overlay.hidden = false;
  overlay.dataset.meeting = String(msg.meeting_id);
  stopTone?.();
  stopTone = tone();
  window.setTimeout(hide, 120_000);
  document.body.dispatchEvent(new Event("kiosk:ring"));
}

function connect(): void {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/kiosk`);
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data)) as Ring;
    if (msg.type === "hello") {
      retry = 0;
      document.body.dataset.kioskLive = "true";
    } else if (msg.type === "ring") ring(msg);
  };
  ws.onclose = (ev) => {
    document.body.dataset.kioskLive = "false";
    if (ev.code === 1008) {
      window.location.assign("/kiosk"); // revoked: back to the sign-in form
      return;
    }
    window.setTimeout(connect, Math.min(10_000, 1000 * 2 ** retry++));
  };
}

overlay?.querySelector("[data-ring-later]")?.addEventListener("click", hide);
joinEl?.addEventListener("click", () => {
  stopTone?.();
  void document.documentElement.requestFullscreen?.().catch(() => undefined);
});
if (overlay) connect();
export {};
