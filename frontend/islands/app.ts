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

type SwapDetail = {
  xhr: XMLHttpRequest;
  shouldSwap: boolean;
  isError: boolean;
  target: Element;
  requestConfig?: { elt?: Element; verb?: string };
};

function formOf(elt: Element | undefined): HTMLFormElement | null {
  if (!elt) return null;
  return elt instanceof HTMLFormElement ? elt : elt.closest("form");
}

/** The form's own error area (made on first use, at the top of the form). */
function errorArea(form: HTMLFormElement): HTMLElement {
  let area = form.querySelector<HTMLElement>("[data-form-errors]");
  if (!area) {
    area = document.createElement("div");
    area.dataset.formErrors = "";
    form.prepend(area);
  }
  return area;
}

function clearErrors(form: HTMLFormElement): void {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  });
  const area = form.querySelector<HTMLElement>("[data-form-errors]");
  if (area) area.replaceChildren();
}

/** Put each field's error (`li[data-field]` in the server's partial) beside the field. */
function placeFieldErrors(form: HTMLFormElement, area: HTMLElement): void {
  let first: HTMLElement | null = null;
  area.querySelectorAll<HTMLElement>("li[data-field]").forEach((item, i) => {
    const name = CSS.escape(item.dataset.field ?? "");
    const field =
      form.querySelector<HTMLElement>(`[data-field-for="${name}"]`) ??
      form.querySelector<HTMLElement>(`[name="${name}"]:not([type="hidden"])`);
    if (!field) return;
    const note = document.createElement("p");
    note.className = "field-error";
    note.id = `${form.id || "form"}-error-${i}`;
    note.textContent = item.textContent;
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", note.id);
    field.insertAdjacentElement("afterend", note);
    item.hidden = true;
    first ??= field;
  });
  const list = area.querySelector<HTMLElement>(".field-errors");
  if (list && !list.querySelector("li:not([hidden])")) list.hidden = true;
  (first as HTMLElement | null)?.focus();
}

// A refused form (4xx) keeps what the user typed: the error partial is swapped into the
// form's own error area and each field error is placed beside its field. Other refusals
// go to the page's flash area.
document.body.addEventListener("htmx:beforeSwap", (event: Event) => {
  const detail = (event as CustomEvent<SwapDetail>).detail;
  if (detail.xhr.status < 400 || detail.xhr.status >= 500) return;
  detail.shouldSwap = true;
  detail.isError = false;
  const form = formOf(detail.requestConfig?.elt);
  if (form && form.method.toLowerCase() === "post") {
    clearErrors(form);
    detail.target = errorArea(form);
  }
});

document.body.addEventListener("htmx:afterSwap", (event: Event) => {
  const detail = (event as CustomEvent<SwapDetail>).detail;
  const area = detail.target as HTMLElement | undefined;
  if (!area?.hasAttribute?.("data-form-errors")) return;
  const form = area.closest("form");
  if (form) placeFieldErrors(form, area);
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
