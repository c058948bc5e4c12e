// Export pages as PNG (one page) or PDF (every page, one JPEG image per PDF page).

import { bounds, drawElement } from "./draw";
import type { Element } from "./model";

export function renderPage(elements: Element[], scale = 2): HTMLCanvasElement {
  let x0 = 0, y0 = 0, x1 = 800, y1 = 600;
  if (elements.length) {
    [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const e of elements) {
      const [a, b, c, d] = bounds(e);
      x0 = Math.min(x0, a); y0 = Math.min(y0, b); x1 = Math.max(x1, c); y1 = Math.max(y1, d);
    }
  }
  const pad = 40;
  const w = Math.min(4096, Math.ceil((x1 - x0 + 2 * pad) * scale));
  const h = Math.min(4096, Math.ceil((y1 - y0 + 2 * pad) * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d")!;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);
  ctx.setTransform(scale, 0, 0, scale, (pad - x0) * scale, (pad - y0) * scale);
  for (const e of elements) drawElement(ctx, e, () => undefined);
  return canvas;
}

export function download(blob: Blob, name: string): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function jpegBytes(canvas: HTMLCanvasElement): Uint8Array {
  const b64 = canvas.toDataURL("image/jpeg", 0.92).split(",")[1] ?? "";
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A minimal PDF 1.4: each canvas a page of its own size (in points, 72 dpi at scale 1). */
export function pdf(canvases: HTMLCanvasElement[]): Blob {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let length = 0;
  const push = (chunk: Uint8Array | string) => {
    const bytes = typeof chunk === "string" ? enc.encode(chunk) : chunk;
    parts.push(bytes);
    length += bytes.length;
  };
  const obj = (n: number, body: (string | Uint8Array)[]) => {
    offsets[n] = length;
    push(`${n} 0 obj\n`);
    for (const b of body) push(b);
    push("\nendobj\n");
  };
  push("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
  const n = canvases.length;
  const kids = canvases.map((_, i) => `${3 + i * 3} 0 R`).join(" ");
  obj(1, ["<< /Type /Catalog /Pages 2 0 R >>"]);
  obj(2, [`<< /Type /Pages /Kids [${kids}] /Count ${n} >>`]);
  canvases.forEach((c, i) => {
    const page = 3 + i * 3;
    const w = (c.width / 2).toFixed(2);
    const h = (c.height / 2).toFixed(2);
    const jpg = jpegBytes(c);
    obj(page, [`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${h}] /Resources << /XObject << /Im0 ${page + 1} 0 R >> >> /Contents ${page + 2} 0 R >>`]);
    obj(page + 1, [`<< /Type /XObject /Subtype /Image /Width ${c.width} /Height ${c.height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length ${jpg.length} >>\nstream\n`, jpg, "\nendstream"]);
    const content = `q ${w} 0 0 ${h} 0 0 cm /Im0 Do Q`;
    obj(page + 2, [`<< /Length ${content.length} >>\nstream\n${content}\nendstream`]);
  });
  const xref = length;
  const count = 3 + n * 3;
  let table = `xref\n0 ${count}\n0000000000 65535 f \n`;
  for (let i = 1; i < count; i++) table += `${String(offsets[i] ?? 0).padStart(10, "0")} 00000 n \n`;
  push(table);
  push(`trailer\n<< /Size ${count} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return new Blob(parts as BlobPart[], { type: "application/pdf" });
}
