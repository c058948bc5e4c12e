// Call quality from WebRTC getStats(): a pure summariser over two successive reports of
// the publish and subscribe peer connections, and a sampler that keeps the previous
// reports. A library module (imported by call.ts): it runs nothing on import.

/** One stats object as getStats() returns it (only the fields read here are typed). */
export interface StatLike {
  id: string;
  type: string;
  timestamp: number;
  [field: string]: unknown;
}

/** An RTCStatsReport, a Map of stats by id, or a plain array of stats objects. */
export type StatsInput = { values(): Iterable<StatLike> } | Iterable<StatLike>;

/** The reports of one moment: the publish leg (what we send) and the subscribe leg. */
export interface Reports {
  pub: StatsInput | null;
  sub: StatsInput | null;
}

export interface Summary {
  /** Media sent (outbound RTP payload, every simulcast layer), kbit/s. */
  send_kbps: number;
  /** Media received (inbound RTP payload), kbit/s. */
  recv_kbps: number;
  /** Inbound packets lost in the interval, % of those expected; null before any arrive. */
  loss_pct: number | null;
  /** Worst inbound audio interarrival jitter, ms; null without inbound audio. */
  jitter_ms: number | null;
  /** Round-trip time of the selected candidate pair (or RTCP), ms; null when unknown. */
  rtt_ms: number | null;
  /** Inbound video: highest frame rate and the largest frame. */
  fps: number;
  width: number;
  height: number;
  /** Outbound video: the largest layer being sent and its frame rate. */
  out_fps: number;
  out_width: number;
  out_height: number;
}

type Index = Map<string, StatLike>;

function index(input: StatsInput | null | undefined): Index {
  const out: Index = new Map();
  if (!input) return out;
  const items = "values" in input && typeof input.values === "function" ? input.values() : (input as Iterable<StatLike>);
  for (const stat of items) out.set(stat.id, stat);
  return out;
}

function num(stat: StatLike | undefined, field: string): number | null {
  const value = stat?.[field];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function of(stats: Index, type: string, kind?: string): StatLike[] {
  return [...stats.values()].filter((s) => s.type === type && (kind === undefined || s.kind === kind));
}

/** Growth of a counter since the previous report; 0 without one or after a reset. */
function delta(now: StatLike, before: Index, field: string): number {
  const was = num(before.get(now.id), field);
  const is = num(now, field);
  if (was === null || is === null || is < was) return 0;
  return is - was;
}

function seconds(now: StatLike, before: Index): number {
  const was = num(before.get(now.id), "timestamp");
  return was === null ? 0 : Math.max(0, (now.timestamp - was) / 1000);
}

function kbps(rtp: StatLike[], before: Index, field: string): number {
  let bits = 0;
  let span = 0;
  for (const s of rtp) {
    const dt = seconds(s, before);
    if (dt <= 0) continue;
    bits += delta(s, before, field) * 8;
    span = Math.max(span, dt);
  }
  return span > 0 ? bits / span / 1000 : 0;
}

function frameRate(s: StatLike, before: Index, counter: string): number {
  const reported = num(s, "framesPerSecond");
  if (reported !== null) return reported;
  const dt = seconds(s, before);
  return dt > 0 ? delta(s, before, counter) / dt : 0;
}

/** A stats object with the report it is compared against (its own leg's previous one). */
type Sampled = readonly [StatLike, Index];

/** The largest frame among video RTP streams, with the frame rate of that stream. */
function largest(rtp: Sampled[], counter: string): { fps: number; width: number; height: number } {
  let best = { fps: 0, width: 0, height: 0 };
  for (const [s, before] of rtp) {
    const width = num(s, "frameWidth") ?? 0;
    const height = num(s, "frameHeight") ?? 0;
    const fps = frameRate(s, before, counter);
    const area = width * height;
    const bestArea = best.width * best.height;
    if (area > bestArea || (area === bestArea && fps > best.fps)) best = { fps, width, height };
  }
  return best;
}

function roundTrip(stats: Index): number | null {
  // The selected pair: named by the transport, else the nominated, succeeded one.
  const selected = new Set(of(stats, "transport").map((t) => String(t.selectedCandidatePairId ?? "")));
  const pairs = of(stats, "candidate-pair");
  const pair =
    pairs.find((p) => selected.has(p.id)) ?? pairs.find((p) => p.nominated === true && p.state === "succeeded");
  const fromPair = num(pair, "currentRoundTripTime");
  if (fromPair !== null) return fromPair * 1000;
  const rtcp = of(stats, "remote-inbound-rtp")
    .map((s) => num(s, "roundTripTime"))
    .filter((v): v is number => v !== null);
  return rtcp.length ? Math.max(...rtcp) * 1000 : null;
}

function round(value: number, places: number): number {
  const f = 10 ** places;
  return Math.round(value * f) / f;
}

function maybe(value: number | null, places: number): number | null {
  return value === null ? null : round(value, places);
}

/** One summary of both legs between the previous reports (may be null) and the current. */
export function summarise(current: Reports, previous: Reports | null = null): Summary {
  const pub = index(current.pub);
  const sub = index(current.sub);
  const pubBefore = index(previous?.pub);
  const subBefore = index(previous?.sub);

  const outbound = of(pub, "outbound-rtp");
  const inbound: Sampled[] = [
    ...of(sub, "inbound-rtp").map((s): Sampled => [s, subBefore]),
    ...of(pub, "inbound-rtp").map((s): Sampled => [s, pubBefore]),
  ];

  let lost = 0;
  let received = 0;
  let recvBits = 0;
  let recvSpan = 0;
  for (const [s, before] of inbound) {
    received += delta(s, before, "packetsReceived");
    const was = num(before.get(s.id), "packetsLost");
    const is = num(s, "packetsLost");
    // packetsLost may fall (late packets, duplicates): a fall counts as no loss.
    if (was !== null && is !== null && is > was) lost += is - was;
    const dt = seconds(s, before);
    if (dt > 0) {
      recvBits += delta(s, before, "bytesReceived") * 8;
      recvSpan = Math.max(recvSpan, dt);
    }
  }
  const expected = lost + received;

  const jitters = inbound
    .filter(([s]) => s.kind === "audio")
    .map(([s]) => num(s, "jitter"))
    .filter((v): v is number => v !== null);

  const rtts = [roundTrip(pub), roundTrip(sub)].filter((v): v is number => v !== null);
  const seen = largest(
    inbound.filter(([s]) => s.kind === "video"),
    "framesDecoded",
  );
  const sent = largest(
    of(pub, "outbound-rtp", "video").map((s): Sampled => [s, pubBefore]),
    "framesEncoded",
  );

  return {
    send_kbps: round(kbps(outbound, pubBefore, "bytesSent"), 1),
    recv_kbps: round(recvSpan > 0 ? recvBits / recvSpan / 1000 : 0, 1),
    loss_pct: expected > 0 ? round((100 * lost) / expected, 2) : null,
    jitter_ms: jitters.length ? round(Math.max(...jitters) * 1000, 1) : null,
    rtt_ms: maybe(rtts.length ? Math.max(...rtts) : null, 1),
    fps: round(seen.fps, 1),
    width: seen.width,
    height: seen.height,
    out_fps: round(sent.fps, 1),
    out_width: sent.width,
    out_height: sent.height,
  };
}

/** Copy a report's stats objects, so a later sample compares against fixed values. */
function snapshot(report: RTCStatsReport): StatLike[] {
  const out: StatLike[] = [];
  report.forEach((stat: StatLike) => out.push({ ...stat }));
  return out;
}

/** Samples both peer connections and summarises against the previous sample. */
export class StatsSampler {
  private previous: Reports | null = null;

  async sample(pub: RTCPeerConnection | null, sub: RTCPeerConnection | null): Promise<Summary> {
    const [p, s] = await Promise.all([pub ? pub.getStats() : null, sub ? sub.getStats() : null]);
    const current: Reports = { pub: p ? snapshot(p) : null, sub: s ? snapshot(s) : null };
    const summary = summarise(current, this.previous);
    this.previous = current;
    return summary;
  }

  /** Forget the previous sample (after the peer connections were replaced). */
  reset(): void {
    this.previous = null;
  }
}
