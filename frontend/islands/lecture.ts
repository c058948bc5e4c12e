// A live lecture: the presenter's video (WebRTC, or the live HLS stream once the
// WebRTC audience is full) beside the slides, whose page follows the presenter for
// everyone. The audience raises a hand and asks questions; the chair brings a hand on
// stage and back and approves questions; presenters turn the pages.
import Hls from "hls.js";

import { Legs } from "./call/media";
import { LocalMedia } from "./call/local";
import { csrf } from "./call/dom";
import { SignalConnection } from "./call/signal";
import type { Json } from "./call/types";

const root = document.getElementById("lecture");

interface Slide {
  deck: number;
  page: number;
  pages: number;
}

if (root) {
  const box = root;
  const lectureId = box.dataset.lecture ?? "";
  const role = box.dataset.role ?? "audience";
  const presenter = box.dataset.presenter === "true";
  const chair = box.dataset.chair === "true";
  let delivery = "webrtc";
  let hlsUrl = "";
  const video = box.querySelector<HTMLVideoElement>("[data-video]")!;
  const slideImg = box.querySelector<HTMLImageElement>("[data-slide]")!;
  const pageLabel = box.querySelector<HTMLElement>("[data-page]")!;
  const deckSelect = box.querySelector<HTMLSelectElement>("[data-deck]");
  const hand = box.querySelector<HTMLButtonElement>("[data-hand]");
  const hands = box.querySelector<HTMLUListElement>("[data-hands]");
  const questions = box.querySelector<HTMLUListElement>("[data-questions]");
  const chat = box.querySelector<HTMLUListElement>("[data-chat]");
  const ask = box.querySelector<HTMLFormElement>("[data-ask]");
  const status = box.querySelector<HTMLElement>("[data-status]")!;
  const count = box.querySelector<HTMLElement>("[data-audience-count]");
  const t = (key: string): string => box.dataset[key] ?? key;

  let slide: Slide | null = null;
  let raised = false;
  let onStage = false;
  const local = new LocalMedia();
  // Attached with the first track: an empty stream would hold up the page's load event.
  const stream = new MediaStream();

  function show(next: Slide): void {
    slide = next;
    slideImg.src = `/teaching/lectures/${lectureId}/slides/${next.deck}/${next.page}.png`;
    slideImg.hidden = false;
    box.querySelector("[data-no-slide]")?.remove();
    pageLabel.textContent = `${next.page} / ${next.pages}`;
    box.dataset.slidePage = String(next.page);
    if (deckSelect) deckSelect.value = String(next.deck);
  }

  const initial = box.dataset.slideDeck;
  if (initial) {
    show({ deck: Number(initial), page: Number(box.dataset.slidePage), pages: Number(box.dataset.slidePages) });
  }

  const conn: SignalConnection = new SignalConnection({
    tokenUrl: `/api/v1/teaching/lectures/${lectureId}/join`,
    onMessage: (msg) => onMessage(msg),
    onState: (state) => {
      box.dataset.link = state;
    },
    onRefused: (_code, sentence) => {
      status.textContent = sentence || t("i18nRefused");
    },
  });
  const legs = new Legs(
    (msg) => conn.send(msg),
    () => conn.iceServers,
    (_owner, track) => {
      stream.addTrack(track);
      if (video.srcObject !== stream) video.srcObject = stream;
      void video.play().catch(() => undefined);
    },
  );

  // A stream that has just started has no playlist yet (404 until the first segment is
  // written): keep asking for a while instead of giving up after one retry.
  const untilTheStreamStarts = {
    maxNumRetry: 30,
    retryDelayMs: 1000,
    maxRetryDelayMs: 2000,
    shouldRetry: (
      config: { maxNumRetry: number } | null | undefined,
      count: number,
      _timeout: boolean,
      response: { code?: number } | undefined,
      retry: boolean,
    ): boolean => retry || (response?.code === 404 && count < (config?.maxNumRetry ?? 0)),
  };

  function playHls(): void {
    if (!hlsUrl) return;
    delivery = "hls";
    box.dataset.delivery = "hls";
    if (Hls.isSupported()) {
      const hls = new Hls({
        liveSyncDurationCount: 2,
        lowLatencyMode: true,
        manifestLoadPolicy: {
          default: {
            maxTimeToFirstByteMs: Infinity,
            maxLoadTimeMs: 20_000,
            timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
            errorRetry: untilTheStreamStarts,
          },
        },
      });
      hls.loadSource(hlsUrl);
      hls.attachMedia(video);
    } else {
      video.src = hlsUrl;
    }
    void video.play().catch(() => undefined);
  }

  async function onMessage(msg: Json): Promise<void> {
    switch (msg.type) {
      case "joined":
        box.dataset.joined = "true";
        status.textContent = delivery === "hls" ? t("i18nHls") : t("i18nLive");
        if (presenter || role === "panelist") {
          await local.acquire();
          await legs.publish(local.stream, true);
        }
        if (delivery === "webrtc") legs.subscribe();
        else playHls();
        return;
      case "published":
        return legs.onPublished(String(msg.sdp));
      case "offer":
        return legs.onOffer(String(msg.sdp));
      case "slide":
        return show(msg as unknown as Slide);
      case "stage":
        onStage = Boolean(msg.on);
        raised = false;
        box.dataset.stage = String(onStage);
        status.textContent = onStage ? t("i18nOnStage") : t("i18nLive");
        if (hand) hand.textContent = t("i18nRaise");
        if (onStage) {
          await local.acquire();
          await legs.publish(local.stream, false);
        } else {
          legs.pub?.close();
          legs.pub = null;
          local.stop();
        }
        return;
      case "roster":
        return roster(msg);
      case "question":
        return addQuestion(msg);
      case "question_done":
        questions?.querySelector(`[data-id="${String(msg.id)}"]`)?.remove();
        return;
      case "question_ack":
        status.textContent = t("i18nAsked");
        return;
      case "chat": {
        const m = msg.message as { sender_name: string; text: string };
        addChat(m.sender_name, m.text);
        return;
      }
      case "chat_history":
        for (const m of (msg.messages as { sender_name: string; text: string }[]) ?? []) addChat(m.sender_name, m.text);
        return;
      case "ended":
        status.textContent = t("i18nEnded");
        legs.close();
        return;
      case "error":
        if (msg.code === "meeting.audience") status.textContent = t("i18nAudience");
        return;
    }
  }

  function roster(msg: Json): void {
    if (count) count.textContent = String(msg.audience_count ?? 0);
    if (!hands) return;
    hands.replaceChildren();
    for (const p of (msg.participants as Json[]) ?? []) {
      if (p.role !== "audience") continue;
      const li = document.createElement("li");
      li.textContent = `${String(p.name)} `;
      if (chair) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = p.on_stage ? t("i18nBack") : t("i18nBring");
        button.addEventListener("click", () => {
          conn.send({ type: "control", action: p.on_stage ? "unstage" : "stage", target: p.id });
        });
        li.append(button);
      }
      hands.append(li);
    }
  }

  function addQuestion(msg: Json): void {
    if (!questions) return;
    const li = document.createElement("li");
    li.dataset.id = String(msg.id);
    li.textContent = `${String(msg.name)}：${String(msg.text)} `;
    if (chair) {
      const actions: [string, string][] = [
        ["approve_question", t("i18nApprove")],
        ["dismiss_question", t("i18nDismiss")],
      ];
      for (const [action, label] of actions) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = action === "approve_question" ? "" : "secondary";
        button.textContent = label;
        button.addEventListener("click", () => conn.send({ type: "control", action, target: msg.id }));
        li.append(button);
      }
    }
    questions.append(li);
  }

  function addChat(name: string, text: string): void {
    if (!chat) return;
    const li = document.createElement("li");
    li.textContent = `${name}：${text}`;
    chat.append(li);
  }

  function turn(delta: number): void {
    if (!slide) {
      const first = deckSelect?.value;
      if (first) conn.send({ type: "slide", deck: Number(first), page: 1 });
      return;
    }
    const page = Math.min(Math.max(1, slide.page + delta), slide.pages);
    if (page !== slide.page) conn.send({ type: "slide", deck: slide.deck, page });
  }

  box.querySelector("[data-prev]")?.addEventListener("click", () => turn(-1));
  box.querySelector("[data-next]")?.addEventListener("click", () => turn(1));
  deckSelect?.addEventListener("change", () => conn.send({ type: "slide", deck: Number(deckSelect.value), page: 1 }));
  document.addEventListener("keydown", (ev) => {
    if (!presenter || (ev.target as HTMLElement).closest("input, textarea, select")) return;
    if (ev.key === "ArrowRight" || ev.key === "PageDown") turn(1);
    if (ev.key === "ArrowLeft" || ev.key === "PageUp") turn(-1);
  });
  hand?.addEventListener("click", () => {
    raised = !raised;
    conn.send({ type: "hand", raised });
    hand.textContent = raised ? t("i18nLower") : t("i18nRaise");
    hand.setAttribute("aria-pressed", String(raised));
  });
  ask?.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = ask.querySelector<HTMLInputElement>("input")!;
    const text = input.value.trim();
    if (!text) return;
    conn.send({ type: "chat", client_id: `q${Date.now().toString(36)}`, text });
    input.value = "";
  });
  // Switch to HLS when the WebRTC media does not start (e.g. a network that blocks UDP).
  window.setTimeout(() => {
    if (delivery === "webrtc" && !presenter && stream.getVideoTracks().length === 0 && hlsUrl) playHls();
  }, 15000);
  // How to watch (WebRTC, or HLS past the WebRTC audience limit); then the signalling.
  void (async () => {
    const res = await fetch(`/api/v1/teaching/lectures/${lectureId}/join`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
      credentials: "same-origin",
    });
    if (res.ok) {
      const join = (await res.json()) as { delivery: string; hls_url: string | null };
      delivery = join.delivery;
      hlsUrl = join.hls_url ?? "";
      box.dataset.delivery = delivery;
    }
    await conn.connect();
  })();
}
