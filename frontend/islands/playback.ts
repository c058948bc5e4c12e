// Recording playback: one <video> per participant part, driven by one set of
// controls so they stay in step (the first part is the clock).

const root = document.getElementById("playback");

function fmt(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

if (root) {
  const videos = [...root.querySelectorAll<HTMLVideoElement>("video[data-part]")];
  const lead = videos[0];
  const seek = root.querySelector<HTMLInputElement>("[data-seek]");
  const clock = root.querySelector<HTMLElement>("[data-clock]");
  const duration = (): number => Math.max(0, ...videos.map((v) => (Number.isFinite(v.duration) ? v.duration : 0)));

  root.querySelector("[data-action=play]")?.addEventListener("click", () => {
    for (const v of videos) void v.play();
  });
  root.querySelector("[data-action=pause]")?.addEventListener("click", () => {
    for (const v of videos) v.pause();
  });
  seek?.addEventListener("input", () => {
    const t = (Number(seek.value) / 1000) * duration();
    for (const v of videos) v.currentTime = Math.min(t, Number.isFinite(v.duration) ? v.duration : t);
  });
  lead?.addEventListener("timeupdate", () => {
    const d = duration();
    if (seek && d > 0) seek.value = String(Math.round((lead.currentTime / d) * 1000));
    if (clock) clock.textContent = `${fmt(lead.currentTime)} / ${fmt(d)}`;
    for (const v of videos.slice(1)) {
      if (!v.paused && Math.abs(v.currentTime - lead.currentTime) > 0.3) v.currentTime = lead.currentTime;
    }
  });
  (window as unknown as { yiyunPlayback: { videos: HTMLVideoElement[] } }).yiyunPlayback = { videos };
}
