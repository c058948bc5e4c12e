// The library's player: HLS through hls.js (or the browser's own HLS), resume where
// the viewer stopped, speed and quality choice, watch progress sent every few seconds,
// and a watermark with the viewer's name and the time drifting over the picture.
import Hls from "hls.js";

const root = document.getElementById("vod");
const REPORT_EVERY_MS = 5000;

function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

if (root) {
  const box = root;
  const video = root.querySelector<HTMLVideoElement>("video")!;
  const src = root.dataset.src ?? "";
  const videoId = root.dataset.videoId ?? "";
  const resumeAt = Number(root.dataset.resume ?? "0");
  const speed = root.querySelector<HTMLSelectElement>("[data-speed]");
  const quality = root.querySelector<HTMLSelectElement>("[data-quality]");
  const mark = root.querySelector<HTMLElement>("[data-watermark]");
  const status = document.querySelector<HTMLElement>("[data-watch-status]");
  let hls: Hls | null = null;

  if (Hls.isSupported()) {
    hls = new Hls({ xhrSetup: (xhr) => { xhr.withCredentials = true; } });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (!quality || !hls) return;
      hls.levels.forEach((level, index) => {
        const option = document.createElement("option");
        option.value = String(index);
        option.textContent = level.height ? `${level.height}p` : (quality.dataset.audioLabel ?? "audio");
        quality.append(option);
      });
    });
    quality?.addEventListener("change", () => {
      if (hls) hls.currentLevel = Number(quality.value);
    });
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    quality?.closest("label")?.setAttribute("hidden", "");
  }

  video.addEventListener(
    "loadedmetadata",
    () => {
      if (resumeAt > 0 && resumeAt < video.duration - 5) video.currentTime = resumeAt;
      box.dataset.ready = "true";
    },
    { once: true },
  );
  speed?.addEventListener("change", () => {
    video.playbackRate = Number(speed.value);
  });

  // What this page has played (the browser merges the spans); the server counts buckets.
  function playedSpans(): [number, number][] {
    const spans: [number, number][] = [];
    for (let i = 0; i < video.played.length && spans.length < 200; i++) {
      spans.push([Math.round(video.played.start(i) * 10) / 10, Math.round(video.played.end(i) * 10) / 10]);
    }
    return spans;
  }

  let lastSent = 0;
  async function report(force = false): Promise<void> {
    const nowMs = Date.now();
    if (!force && nowMs - lastSent < REPORT_EVERY_MS) return;
    lastSent = nowMs;
    const res = await fetch(`/api/v1/teaching/videos/${videoId}/progress`, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), Accept: "application/json" },
      body: JSON.stringify({ position_s: Math.round(video.currentTime * 10) / 10, played: playedSpans() }),
    });
    if (res.ok && status) {
      const body = (await res.json()) as { watched_s: number; completed_at: string | null };
      box.dataset.watched = String(body.watched_s);
      if (body.completed_at) status.hidden = false;
    }
  }
  video.addEventListener("timeupdate", () => {
    if (!video.paused) void report();
  });
  video.addEventListener("pause", () => void report(true));
  video.addEventListener("ended", () => void report(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") void report(true);
  });

  // The watermark: who is watching and when, moved now and then so it cannot be cropped.
  if (mark) {
    const name = mark.dataset.name ?? "";
    const spots: [number, number][] = [
      [8, 10], [55, 18], [20, 70], [60, 62], [35, 40],
    ];
    let spot = 0;
    const tick = (): void => {
      mark.textContent = `${name} · ${new Date().toLocaleString()}`;
    };
    tick();
    setInterval(tick, 1000);
    setInterval(() => {
      spot = (spot + 1) % spots.length;
      const [left, top] = spots[spot] ?? [8, 10];
      mark.style.left = `${left}%`;
      mark.style.top = `${top}%`;
    }, 20000);
  }
}
