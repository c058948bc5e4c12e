// The pre-call self-test page: camera preview, microphone level, a speaker tone the user
// confirms, and the network (WebSocket round trips, a download and an upload against
// the server's self-test probes). Results are shown per check, summed up in one verdict
// and exposed on window.yiyunSelftest (for tests and for whoever embeds the page).

export type State = "pending" | "testing" | "good" | "fair" | "failed";
type Check = "camera" | "microphone" | "speaker" | "network";

export interface Results {
  done: boolean;
  verdict: State;
  camera: { state: State; width: number; height: number };
  microphone: { state: State; peak: number };
  speaker: { state: State };
  network: { state: State; rtt_ms: number | null; down_mbps: number | null; up_mbps: number | null };
}

export const PINGS = 10;
export const DOWNLOAD_BYTES = 2_000_000;
export const UPLOAD_BYTES = 1_000_000;
const CAMERA_TIMEOUT_MS = 8000;
const MIC_WINDOW_MS = 6000;
const MIC_FLOOR_RMS = 0.01; // about -40 dBFS: speech or the fake device's beep, not silence
const NET_TIMEOUT_MS = 20_000;

const FINAL: readonly State[] = ["good", "fair", "failed"];

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Round trip: good under 150 ms, fair under 400 ms. */
export function rttState(ms: number): State {
  return ms < 150 ? "good" : ms < 400 ? "fair" : "failed";
}

/** Throughput either way: good from 1.5 Mbit/s, fair from 0.5 Mbit/s. */
export function throughputState(mbps: number): State {
  return mbps >= 1.5 ? "good" : mbps >= 0.5 ? "fair" : "failed";
}

/** The worst of several states (failed < fair < good). */
export function worst(states: State[]): State {
  if (states.some((s) => !FINAL.includes(s))) return "testing";
  if (states.includes("failed")) return "failed";
  return states.includes("fair") ? "fair" : "good";
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = window.setTimeout(() => reject(new Error(`${what} timed out`)), ms);
    promise.then(
      (value) => {
        window.clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        window.clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Median round trip of `PINGS` text pings through the echo socket, in ms. */
async function measureRtt(url: string): Promise<number> {
  const ws = new WebSocket(url);
  const inbox: ((text: string) => void)[] = [];
  ws.onmessage = (ev) => inbox.shift()?.(String(ev.data));
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("echo socket failed"));
      }),
      NET_TIMEOUT_MS,
      "echo socket",
    );
    const samples: number[] = [];
    for (let i = 0; i < PINGS; i++) {
      const echoed = new Promise<string>((resolve) => inbox.push(resolve));
      const started = performance.now();
      ws.send(`ping ${i}`);
      await withTimeout(echoed, 5000, "ping");
      samples.push(performance.now() - started);
    }
    return median(samples);
  } finally {
    ws.close();
  }
}

async function measureDownload(url: string): Promise<number> {
  const started = performance.now();
  const res = await withTimeout(fetch(`${url}?bytes=${DOWNLOAD_BYTES}`, { cache: "no-store" }), NET_TIMEOUT_MS, "download");
  if (!res.ok) throw new Error(`download ${res.status}`);
  const body = await withTimeout(res.arrayBuffer(), NET_TIMEOUT_MS, "download");
  const seconds = (performance.now() - started) / 1000;
  return (body.byteLength * 8) / Math.max(seconds, 0.001) / 1e6;
}

async function measureUpload(url: string): Promise<number> {
  const data = new Uint8Array(UPLOAD_BYTES);
  for (let at = 0; at < data.length; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536));
  const started = performance.now();
  const res = await withTimeout(
    fetch(url, { method: "POST", body: data, headers: { "Content-Type": "application/octet-stream" }, cache: "no-store" }),
    NET_TIMEOUT_MS,
    "upload",
  );
  if (!res.ok) throw new Error(`upload ${res.status}`);
  const answer = (await res.json()) as { bytes?: number };
  if (answer.bytes !== UPLOAD_BYTES) throw new Error("upload was cut short");
  const seconds = (performance.now() - started) / 1000;
  return (UPLOAD_BYTES * 8) / Math.max(seconds, 0.001) / 1e6;
}

function running(ctx: AudioContext): boolean {
  return ctx.state === "running";
}

class SelfTest {
  readonly results: Results = {
    done: false,
    verdict: "testing",
    camera: { state: "pending", width: 0, height: 0 },
    microphone: { state: "pending", peak: 0 },
    speaker: { state: "pending" },
    network: { state: "pending", rtt_ms: null, down_mbps: null, up_mbps: null },
  };
  private stream: MediaStream | null = null;
  private audio: AudioContext | null = null;
  private meterTimer = 0;

  constructor(private readonly root: HTMLElement) {}

  private t(key: string): string {
    return this.root.dataset[key] ?? key;
  }

  private section(check: Check): HTMLElement | null {
    return this.root.querySelector<HTMLElement>(`[data-check="${check}"]`);
  }

  private setState(check: Check, state: State): void {
    this.results[check].state = state;
    const el = this.section(check);
    if (el) {
      el.dataset.state = state;
      const badge = el.querySelector<HTMLElement>("[data-badge]");
      if (badge) {
        badge.textContent = this.t(`i18n${state[0]?.toUpperCase()}${state.slice(1)}`);
        badge.className = `badge ${state === "good" ? "ok" : state === "fair" ? "warn" : state === "failed" ? "bad" : ""}`;
      }
      for (const hint of el.querySelectorAll<HTMLElement>("[data-hint]")) {
        hint.hidden = hint.dataset.hint !== state;
      }
    }
    this.updateVerdict();
  }

  private show(check: Check, field: string, text: string): void {
    const el = this.section(check)?.querySelector<HTMLElement>(`[data-value="${field}"]`);
    if (el) el.textContent = text;
  }

  private updateVerdict(): void {
    const r = this.results;
    const states = [r.camera.state, r.microphone.state, r.speaker.state, r.network.state];
    const verdict = worst(states);
    r.verdict = verdict;
    r.done = verdict !== "testing";
    const box = this.root.querySelector<HTMLElement>("[data-verdict]");
    const text = this.root.querySelector<HTMLElement>("[data-verdict-text]");
    if (!box || !text) return;
    box.dataset.verdict = r.done ? verdict : "pending";
    const waitingForSpeaker = !r.done && states.filter((s) => FINAL.includes(s)).length === 3 && !FINAL.includes(r.speaker.state);
    text.textContent = r.done
      ? this.t(`i18nVerdict${verdict[0]?.toUpperCase()}${verdict.slice(1)}`)
      : this.t(waitingForSpeaker ? "i18nVerdictSpeaker" : "i18nVerdictTesting");
    const join = this.root.querySelector<HTMLElement>("[data-join]");
    join?.classList.toggle("secondary", r.done && verdict === "failed");
  }

  start(): void {
    this.wire();
    this.updateVerdict();
    void this.devices();
    void this.network();
  }

  private wire(): void {
    this.root.querySelector("[data-action=retry]")?.addEventListener("click", () => window.location.reload());
    this.root.querySelector("[data-action=tone]")?.addEventListener("click", () => void this.playTone());
    this.root.querySelector("[data-action=heard]")?.addEventListener("click", () => this.answer(true));
    this.root.querySelector("[data-action=not-heard]")?.addEventListener("click", () => this.answer(false));
    // Browsers start audio only after a gesture: any click on the page starts the meter.
    const resume = (): void => void this.audio?.resume();
    document.addEventListener("pointerdown", resume);
    document.addEventListener("keydown", resume);
    window.addEventListener("pagehide", () => this.stop());
  }

  private stop(): void {
    window.clearInterval(this.meterTimer);
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    void this.audio?.close();
  }

  private context(): AudioContext {
    this.audio ??= new AudioContext();
    return this.audio;
  }

  private async openMedia(): Promise<MediaStream> {
    const md = navigator.mediaDevices;
    const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
    try {
      return await md.getUserMedia({ video, audio: true });
    } catch {
      // One device missing or refused must not fail the other.
      const tracks: MediaStreamTrack[] = [];
      for (const constraints of [{ video }, { audio: true }]) {
        try {
          tracks.push(...(await md.getUserMedia(constraints)).getTracks());
        } catch {
          /* reported by that device's check */
        }
      }
      return new MediaStream(tracks);
    }
  }

  private async devices(): Promise<void> {
    this.setState("camera", "testing");
    this.setState("microphone", "testing");
    let stream: MediaStream;
    try {
      stream = await this.openMedia();
    } catch {
      stream = new MediaStream();
    }
    this.stream = stream;
    await Promise.all([this.camera(stream), this.microphone(stream)]);
  }

  private async camera(stream: MediaStream): Promise<void> {
    const track = stream.getVideoTracks()[0];
    const video = this.section("camera")?.querySelector<HTMLVideoElement>("[data-preview]");
    if (!track || !video) {
      this.setState("camera", "failed");
      return;
    }
    video.srcObject = new MediaStream([track]);
    try {
      await withTimeout(
        new Promise<void>((resolve) => {
          // requestVideoFrameCallback fires only for frames actually presented.
          const hasFrames = typeof video.requestVideoFrameCallback === "function";
          const frame = (): void => {
            if (video.videoWidth > 0) resolve();
            else if (hasFrames) video.requestVideoFrameCallback(frame);
            else window.setTimeout(frame, 100);
          };
          if (hasFrames) video.requestVideoFrameCallback(frame);
          else video.addEventListener("loadeddata", frame, { once: true });
          void video.play().catch(() => undefined);
        }),
        CAMERA_TIMEOUT_MS,
        "camera",
      );
    } catch {
      this.setState("camera", "failed");
      return;
    }
    this.results.camera.width = video.videoWidth;
    this.results.camera.height = video.videoHeight;
    this.show("camera", "resolution", `${video.videoWidth} × ${video.videoHeight}`);
    // A picture smaller than 640 x 360 works but will look blurry to the other side.
    this.setState("camera", video.videoWidth >= 640 && video.videoHeight >= 360 ? "good" : "fair");
  }

  private async microphone(stream: MediaStream): Promise<void> {
    const track = stream.getAudioTracks()[0];
    if (!track) {
      this.setState("microphone", "failed");
      return;
    }
    const ctx = this.context();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const bar = this.section("microphone")?.querySelector<HTMLElement>("[data-level]");
    const meter = bar?.parentElement;
    let heardAt = 0;
    this.meterTimer = window.setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const rms = Math.sqrt(sum / samples.length);
      this.results.microphone.peak = Math.max(this.results.microphone.peak, rms);
      if (rms > MIC_FLOOR_RMS && !heardAt) heardAt = performance.now();
      // -60 dBFS .. 0 dBFS onto the bar
      const percent = Math.max(0, Math.min(100, ((20 * Math.log10(rms || 1e-6) + 60) / 60) * 100));
      if (bar) bar.style.width = `${percent.toFixed(0)}%`;
      meter?.setAttribute("aria-valuenow", percent.toFixed(0));
    }, 50);

    if (!running(ctx)) {
      void ctx.resume().catch(() => undefined);
      const hint = this.section("microphone")?.querySelector<HTMLElement>('[data-hint="testing"]');
      const said = hint?.textContent ?? "";
      if (hint && !running(ctx)) hint.textContent = this.t("i18nMicStart");
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (running(ctx)) {
            ctx.removeEventListener("statechange", check);
            resolve();
          }
        };
        ctx.addEventListener("statechange", check);
        check();
      });
      if (hint) hint.textContent = said;
    }
    const deadline = performance.now() + MIC_WINDOW_MS;
    while (!heardAt && performance.now() < deadline) {
      await new Promise((resolve) => window.setTimeout(resolve, 100));
    }
    this.setState("microphone", heardAt ? "good" : "failed");
  }

  private async playTone(): Promise<void> {
    const ctx = this.context();
    await ctx.resume();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 660;
    const now = ctx.currentTime;
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(0.25, now + 0.05);
    gain.gain.setValueAtTime(0.25, now + 0.9);
    gain.gain.linearRampToValueAtTime(0, now + 1);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now);
    osc.stop(now + 1.05);
    const question = this.section("speaker")?.querySelector<HTMLElement>("[data-question]");
    if (question) question.hidden = false;
    this.setState("speaker", "testing");
  }

  private answer(heard: boolean): void {
    const question = this.section("speaker")?.querySelector<HTMLElement>("[data-question]");
    if (question) question.hidden = true;
    this.setState("speaker", heard ? "good" : "failed");
  }

  private async network(): Promise<void> {
    this.setState("network", "testing");
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const wsUrl = `${proto}://${location.host}${this.root.dataset.wsPath ?? "/ws/selftest"}`;
    const payload = this.root.dataset.payloadUrl ?? "/api/v1/selftest/payload";
    const n = this.results.network;
    try {
      n.rtt_ms = await measureRtt(wsUrl);
      this.show("network", "rtt", `${Math.round(n.rtt_ms)} ms`);
      n.down_mbps = await measureDownload(payload);
      this.show("network", "down", `${n.down_mbps.toFixed(1)} Mbit/s`);
      n.up_mbps = await measureUpload(payload);
      this.show("network", "up", `${n.up_mbps.toFixed(1)} Mbit/s`);
    } catch (err) {
      console.warn("self-test network check failed", err);
      this.setState("network", "failed");
      return;
    }
    this.setState("network", worst([rttState(n.rtt_ms), throughputState(n.down_mbps), throughputState(n.up_mbps)]));
  }
}

const root = document.getElementById("selftest");
if (root) {
  const test = new SelfTest(root);
  (window as unknown as { yiyunSelftest: Results }).yiyunSelftest = test.results;
  test.start();
}
