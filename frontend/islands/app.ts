// Page behaviour shared by every Yiyun page: htmx, CSRF on htmx requests,
// the mobile navigation toggle, confirmations and copy buttons.
import htmx from "htmx.org";

declare global {
  interface Window {
    htmx: typeof htmx;
  }
}
window.htmx = htmx;

function csrfToken(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]');
  return meta?.content ?? "";
}

document.body.addEventListener("htmx:configRequest", (event: Event) => {
  const detail = (event as CustomEvent<{ headers: Record<string, string> }>).detail;
  const token = csrfToken();
  if (token) detail.headers["X-CSRF-Token"] = token;
});

// Render refusals (4xx) into the flash area instead of silently dropping them.
document.body.addEventListener("htmx:beforeSwap", (event: Event) => {
  const detail = (event as CustomEvent<{ xhr: XMLHttpRequest; shouldSwap: boolean; isError: boolean }>).detail;
  if (detail.xhr.status >= 400 && detail.xhr.status < 500) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});

function wireNavToggle(): void {
  const toggle = document.querySelector<HTMLButtonElement>("[data-nav-toggle]");
  const nav = document.querySelector<HTMLElement>("[data-nav]");
  if (!toggle || !nav) return;
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}

function wireConfirm(): void {
  document.addEventListener("submit", (event) => {
    const form = event.target as HTMLFormElement;
    const message = form.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
}

function wireCopy(): void {
  document.addEventListener("click", (event) => {
    const button = (event.target as HTMLElement).closest<HTMLElement>("[data-copy]");
    if (!button) return;
    const text = button.dataset.copy ?? "";
    void navigator.clipboard?.writeText(text).then(() => {
      button.classList.add("copied");
      window.setTimeout(() => button.classList.remove("copied"), 1200);
    });
  });
}

wireNavToggle();
wireConfirm();
wireCopy();
