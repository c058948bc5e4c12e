// Polls and Q&A in the call page's side panel. The server keeps both (REST under
// /api/v1/meetings/{id}/polls and /questions); when anything changes, the meeting's
// signalling socket carries a bare "polls" or "questions" message (call.ts turns it
// into a `call:engage` event on #call) and this island reads the list afresh, so each
// person sees what their role may see (names behind named votes: the chair only).

type Json = Record<string, unknown>;

interface Option {
  text: string;
  votes: number;
  voters: string[] | null;
}
interface Poll {
  id: number;
  question: string;
  multiple: boolean;
  anonymous: boolean;
  state: "open" | "closed";
  options: Option[];
  ballots: number;
  voted: boolean;
}
interface Question {
  id: number;
  text: string;
  author: string;
  mine: boolean;
  state: "open" | "answered" | "hidden";
  votes: number;
  voted: boolean;
}

function csrf(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

class Engage {
  private readonly chair: boolean;
  private readonly voter: boolean;
  private loading = { polls: false, questions: false };
  private again = { polls: false, questions: false };

  constructor(private readonly panel: HTMLElement, callRoot: HTMLElement | null) {
    const role = panel.dataset.role ?? "";
    this.chair = role === "host" || role === "cohost";
    this.voter = this.chair || role === "participant";
    callRoot?.addEventListener("call:engage", (ev) => {
      const what = (ev as CustomEvent<string>).detail;
      void this.refresh(what === "questions" ? "questions" : "polls");
    });
    for (const b of panel.querySelectorAll<HTMLButtonElement>("[data-engage-tab]")) {
      b.addEventListener("click", () => this.show(b.dataset.engageTab === "questions" ? "questions" : "polls"));
    }
    this.wireForm();
    this.wireAsk();
    panel.addEventListener("click", (ev) => void this.onClick(ev));
    // The panel opens when the person presses the control; read the lists then too.
    new MutationObserver(() => {
      if (!panel.hidden) {
        void this.refresh("polls");
        void this.refresh("questions");
      }
    }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
    void this.refresh("polls");
    void this.refresh("questions");
  }

  private t(key: string, vars: Record<string, string | number> = {}): string {
    const camel = "i18n" + key.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
    let text = this.panel.dataset[camel] ?? key;
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
    return text;
  }

  private show(tab: "polls" | "questions"): void {
    for (const b of this.panel.querySelectorAll<HTMLElement>("[data-engage-tab]")) b.setAttribute("aria-selected", String(b.dataset.engageTab === tab));
    for (const p of this.panel.querySelectorAll<HTMLElement>("[data-engage-pane]")) p.hidden = p.dataset.engagePane !== tab;
    const ask = this.panel.querySelector<HTMLElement>("[data-ask-form]");
    if (ask) ask.hidden = tab !== "questions";
  }

  private async api(url: string, body?: Json): Promise<Response> {
    return fetch(url, {
      method: body === undefined ? "GET" : "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Read one list again; a change that arrives while reading triggers one more read. */
  private async refresh(what: "polls" | "questions"): Promise<void> {
    if (this.loading[what]) {
      this.again[what] = true;
      return;
    }
    this.loading[what] = true;
    try {
      do {
        this.again[what] = false;
        const url = what === "polls" ? this.panel.dataset.pollsUrl! : this.panel.dataset.questionsUrl!;
        const res = await this.api(url);
        if (!res.ok) return;
        const items = (await res.json()) as unknown[];
        if (what === "polls") this.renderPolls(items as Poll[]);
        else this.renderQuestions(items as Question[]);
      } while (this.again[what]);
    } finally {
      this.loading[what] = false;
    }
  }

  private renderPolls(polls: Poll[]): void {
    const list = this.panel.querySelector<HTMLElement>("[data-polls]")!;
    this.panel.querySelector<HTMLElement>("[data-polls-empty]")!.hidden = polls.length > 0;
    list.replaceChildren(...polls.map((p) => this.pollItem(p)));
  }

  private pollItem(p: Poll): HTMLElement {
    const canVote = this.voter && p.state === "open" && !p.voted;
    const tags = [p.state === "open" ? this.t("open") : this.t("closed"), p.multiple ? this.t("multiple") : this.t("single"), p.anonymous ? this.t("anonymous") : this.t("named")];
    const head = el("div", { class: "poll-head" }, el("strong", {}, p.question), el("span", { class: "muted small-print" }, tags.join(" · ")));
    const form = el("form", { class: "poll-body", "data-poll": String(p.id), "hx-boost": "false" });
    const total = Math.max(1, p.ballots);
    p.options.forEach((o, i) => {
      const pct = Math.round((o.votes / total) * 100);
      const bar = el("span", { class: "poll-bar", "aria-hidden": "true" });
      bar.style.setProperty("--pct", `${pct}%`);
      const label = el("span", { class: "poll-option-text" }, o.text);
      const count = el("span", { class: "poll-count", "data-votes": String(o.votes) }, `${o.votes} · ${pct}%`);
      const row = canVote
        ? el("label", { class: "poll-option" }, el("input", { type: p.multiple ? "checkbox" : "radio", name: `poll-${p.id}`, value: String(i) }), label, count, bar)
        : el("div", { class: "poll-option" }, label, count, bar);
      if (o.voters && o.voters.length) row.append(el("span", { class: "poll-voters muted small-print" }, o.voters.join("、")));
      form.append(row);
    });
    const foot = el("div", { class: "poll-foot" }, el("span", { class: "muted small-print", "data-ballots": String(p.ballots) }, this.t("ballots", { count: p.ballots })));
    if (canVote) foot.append(el("button", { type: "submit", class: "small" }, this.t("vote")));
    else if (p.voted) foot.append(el("span", { class: "badge ok" }, this.t("voted")));
    if (this.chair && p.state === "open") foot.append(el("button", { type: "button", class: "small secondary", "data-poll-close": String(p.id) }, this.t("close-poll")));
    form.append(foot);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const choices = [...form.querySelectorAll<HTMLInputElement>("input:checked")].map((x) => Number(x.value));
      if (!choices.length) return;
      void this.post(`${this.panel.dataset.pollsUrl}/${p.id}/vote`, { choices }, "polls");
    });
    return el("li", { class: `poll ${p.state}` }, head, form);
  }

  private renderQuestions(items: Question[]): void {
    const list = this.panel.querySelector<HTMLElement>("[data-questions]")!;
    this.panel.querySelector<HTMLElement>("[data-questions-empty]")!.hidden = items.length > 0;
    const open = items.filter((q) => q.state === "open").length;
    const count = this.panel.querySelector<HTMLElement>("[data-questions-count]");
    if (count) count.textContent = open ? String(open) : "";
    list.replaceChildren(...items.map((q) => this.questionItem(q)));
  }

  private questionItem(q: Question): HTMLElement {
    const state = q.state === "answered" ? el("span", { class: "badge ok" }, this.t("answered")) : q.state === "hidden" ? el("span", { class: "badge" }, this.t("hidden")) : "";
    const up = el("button", { type: "button", class: "upvote", "data-upvote": String(q.id), "aria-pressed": String(q.voted), "aria-label": `${this.t("upvote")} (${q.votes})` }, "▲ ", el("span", { "data-question-votes": "" }, String(q.votes)));
    if (!this.voter || q.mine || q.voted || q.state !== "open") up.setAttribute("disabled", "");
    const actions = el("div", { class: "question-actions" });
    if (this.chair && q.state === "open") actions.append(el("button", { type: "button", class: "small secondary", "data-answer": String(q.id) }, this.t("answer")));
    if (this.chair && q.state !== "hidden") actions.append(el("button", { type: "button", class: "small secondary", "data-hide": String(q.id) }, this.t("hide")));
    const body = el("div", { class: "question-body" }, el("p", {}, q.text), el("span", { class: "muted small-print" }, q.author), state, actions);
    return el("li", { class: `question ${q.state}`, "data-question": String(q.id) }, up, body);
  }

  private async onClick(ev: Event): Promise<void> {
    const target = (ev.target as HTMLElement).closest<HTMLElement>("[data-poll-close],[data-upvote],[data-answer],[data-hide]");
    if (!target) return;
    const polls = this.panel.dataset.pollsUrl!;
    const questions = this.panel.dataset.questionsUrl!;
    if (target.dataset.pollClose) await this.post(`${polls}/${target.dataset.pollClose}/close`, {}, "polls");
    else if (target.dataset.upvote) await this.post(`${questions}/${target.dataset.upvote}/upvote`, {}, "questions");
    else if (target.dataset.answer) await this.post(`${questions}/${target.dataset.answer}/answer`, {}, "questions");
    else if (target.dataset.hide) await this.post(`${questions}/${target.dataset.hide}/hide`, {}, "questions");
  }

  private async post(url: string, body: Json, then: "polls" | "questions", errorBox?: HTMLElement): Promise<boolean> {
    const res = await this.api(url, body);
    if (!res.ok) {
      let message = this.t("failed");
      try {
        message = String(((await res.json()) as { error?: { message?: string } }).error?.message ?? message);
      } catch {
        /* not JSON: keep the general sentence */
      }
      if (errorBox) {
        errorBox.textContent = message;
        errorBox.hidden = false;
      } else {
        (window as unknown as { yiyunCall?: { ui?: { toast?: (m: string) => void } } }).yiyunCall?.ui?.toast?.(message);
      }
      return false;
    }
    await this.refresh(then);
    return true;
  }

  private wireForm(): void {
    const form = this.panel.querySelector<HTMLFormElement>("[data-poll-form]");
    if (!form) return;
    const options = form.querySelector<HTMLElement>("[data-poll-options]")!;
    form.querySelector("[data-poll-add-option]")?.addEventListener("click", () => {
      const n = options.querySelectorAll("input").length;
      if (n >= 10) return;
      options.append(el("input", { name: "option", maxlength: "200", "aria-label": this.t("option", { n: n + 1 }) }));
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const error = form.querySelector<HTMLElement>("[data-poll-error]")!;
      error.hidden = true;
      const data = new FormData(form);
      const body = {
        question: String(data.get("question") ?? ""),
        options: data.getAll("option").map(String).filter((o) => o.trim()),
        multiple: data.get("multiple") !== null,
        anonymous: data.get("anonymous") !== null,
      };
      void this.post(this.panel.dataset.pollsUrl!, body, "polls", error).then((ok) => {
        if (!ok) return;
        form.reset();
        for (const extra of [...options.querySelectorAll("input")].slice(2)) extra.remove();
        this.panel.querySelector<HTMLDetailsElement>("[data-poll-new]")!.open = false;
      });
    });
  }

  private wireAsk(): void {
    const form = this.panel.querySelector<HTMLFormElement>("[data-ask-form]");
    if (!form) return;
    const input = form.querySelector<HTMLTextAreaElement>("[data-ask-input]")!;
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      void this.post(this.panel.dataset.questionsUrl!, { text }, "questions").then((ok) => {
        if (ok) input.value = "";
      });
    });
  }
}

const panel = document.querySelector<HTMLElement>("[data-engage]");
if (panel) new Engage(panel, document.getElementById("call"));
