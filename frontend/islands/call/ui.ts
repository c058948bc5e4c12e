// Page furniture of the call: toasts, the confirmation dialog, the full-page notice
// (waiting room, ended, denied, removed) and kiosk mode's auto-hiding controls.

import { h } from "./dom";

export class Ui {
  private readonly toasts: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.toasts = root.querySelector<HTMLElement>("[data-toasts]")!;
  }

  toast(text: string, kind: "info" | "error" = "info"): void {
    const el = h("div", { class: `call-toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
    this.toasts.append(el);
    window.setTimeout(() => el.remove(), kind === "error" ? 7000 : 4500);
  }

  /** A modal yes/no question (our own dialog: window.confirm blocks media and tests). */
  confirm(text: string, ok: string): Promise<boolean> {
    const dialog = this.root.querySelector<HTMLDialogElement>("[data-confirm-dialog]")!;
    dialog.querySelector("[data-confirm-text]")!.textContent = text;
    dialog.querySelector("[data-confirm-ok]")!.textContent = ok;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  /** Show the full-page notice of a phase (`waiting`, `ended`, …) or none. */
  notice(phase: string | null, title = "", body = ""): void {
    const box = this.root.querySelector<HTMLElement>("[data-notice]")!;
    box.hidden = phase === null;
    box.dataset.kind = phase ?? "";
    box.querySelector("[data-notice-title]")!.textContent = title;
    box.querySelector("[data-notice-body]")!.textContent = body;
    box.querySelector<HTMLElement>("[data-notice-back]")!.hidden = phase === "waiting";
  }

  /** Kiosk (`?kiosk=1`): no app chrome; the controls hide after a few idle seconds. */
  kiosk(): void {
    document.body.classList.add("kiosk");
    this.root.classList.add("kiosk");
    let timer = 0;
    const wake = () => {
      this.root.classList.remove("idle");
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        if (!this.root.querySelector(".panel:not([hidden])")) this.root.classList.add("idle");
      }, 4000);
    };
    for (const ev of ["pointermove", "pointerdown", "keydown", "touchstart"]) document.addEventListener(ev, wake, { passive: true });
    wake();
  }
}
