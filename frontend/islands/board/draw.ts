// Drawing board elements on a 2D canvas (board units; the caller sets the transform).

import type { Element } from "./model";

const images = new Map<string, HTMLImageElement>();

function image(src: string, onload: () => void): HTMLImageElement {
  let img = images.get(src);
  if (!img) {
    img = new Image();
    img.onload = onload;
    img.src = src;
    images.set(src, img);
  }
  return img;
}

/** A smooth stroke: quadratic curves through the midpoints of the captured points. */
export function smooth(ctx: CanvasRenderingContext2D, pts: number[]): void {
  if (pts.length < 2) return;
  ctx.beginPath();
  ctx.moveTo(pts[0]!, pts[1]!);
  if (pts.length === 2) {
    ctx.lineTo(pts[0]! + 0.01, pts[1]!);
  } else {
    for (let i = 2; i < pts.length - 2; i += 2) {
      const mx = (pts[i]! + pts[i + 2]!) / 2;
      const my = (pts[i + 1]! + pts[i + 3]!) / 2;
      ctx.quadraticCurveTo(pts[i]!, pts[i + 1]!, mx, my);
    }
    ctx.lineTo(pts[pts.length - 2]!, pts[pts.length - 1]!);
  }
  ctx.stroke();
}

function arrowHead(ctx: CanvasRenderingContext2D, x0: number, y0: number, x1: number, y1: number, size: number): void {
  const a = Math.atan2(y1 - y0, x1 - x0);
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - size * Math.cos(a - 0.45), y1 - size * Math.sin(a - 0.45));
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - size * Math.cos(a + 0.45), y1 - size * Math.sin(a + 0.45));
  ctx.stroke();
}

function wrap(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, maxW: number, lh: number): void {
  let line = "";
  let yy = y;
  for (const ch of text) {
    if (ch === "\n" || (maxW > 0 && ctx.measureText(line + ch).width > maxW && line)) {
      ctx.fillText(line, x, yy);
      yy += lh;
      line = ch === "\n" ? "" : ch;
    } else {
      line += ch;
    }
  }
  if (line) ctx.fillText(line, x, yy);
}

export function drawElement(ctx: CanvasRenderingContext2D, e: Element, redraw: () => void): void {
  ctx.save();
  ctx.strokeStyle = e.color;
  ctx.fillStyle = e.color;
  ctx.lineWidth = e.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const x = Math.min(e.x, e.x + e.w);
  const y = Math.min(e.y, e.y + e.h);
  const w = Math.abs(e.w);
  const h = Math.abs(e.h);
  switch (e.type) {
    case "pen":
      smooth(ctx, e.points ?? []);
      break;
    case "rect":
      ctx.strokeRect(x, y, w, h);
      break;
    case "ellipse":
      ctx.beginPath();
      ctx.ellipse(x + w / 2, y + h / 2, w / 2, h / 2, 0, 0, Math.PI * 2);
      ctx.stroke();
      break;
    case "line":
    case "arrow":
      ctx.beginPath();
      ctx.moveTo(e.x, e.y);
      ctx.lineTo(e.x + e.w, e.y + e.h);
      ctx.stroke();
      if (e.type === "arrow") arrowHead(ctx, e.x, e.y, e.x + e.w, e.y + e.h, 10 + e.width * 3);
      break;
    case "text":
      ctx.font = `${Math.max(12, e.width * 6)}px system-ui, "Noto Sans CJK SC", sans-serif`;
      ctx.textBaseline = "top";
      wrap(ctx, e.text ?? "", e.x, e.y, 0, Math.max(12, e.width * 6) * 1.3);
      break;
    case "note":
      ctx.fillStyle = "#fde68a";
      ctx.shadowColor = "rgba(0,0,0,.18)";
      ctx.shadowBlur = 6;
      ctx.fillRect(x, y, w, h);
      ctx.shadowBlur = 0;
      ctx.fillStyle = "#1f2937";
      ctx.font = `16px system-ui, "Noto Sans CJK SC", sans-serif`;
      ctx.textBaseline = "top";
      wrap(ctx, e.text ?? "", x + 10, y + 10, w - 20, 21);
      break;
    case "image": {
      const img = e.src ? image(e.src, redraw) : null;
      if (img?.complete && img.naturalWidth) ctx.drawImage(img, x, y, w, h);
      else ctx.strokeRect(x, y, w, h);
      break;
    }
  }
  ctx.restore();
}

export function bounds(e: Element): [number, number, number, number] {
  if (e.type === "pen" && e.points?.length) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < e.points.length; i += 2) {
      x0 = Math.min(x0, e.points[i]!); x1 = Math.max(x1, e.points[i]!);
      y0 = Math.min(y0, e.points[i + 1]!); y1 = Math.max(y1, e.points[i + 1]!);
    }
    return [x0, y0, x1, y1];
  }
  if (e.type === "text") {
    const size = Math.max(12, e.width * 6);
    const lines = (e.text ?? "").split("\n");
    const longest = Math.max(...lines.map((l) => l.length));
    return [e.x, e.y, e.x + longest * size, e.y + lines.length * size * 1.3];
  }
  return [Math.min(e.x, e.x + e.w), Math.min(e.y, e.y + e.h), Math.max(e.x, e.x + e.w), Math.max(e.y, e.y + e.h)];
}

/** Is (px, py) on the element, within `tol` board units? */
export function hit(e: Element, px: number, py: number, tol: number): boolean {
  const [x0, y0, x1, y1] = bounds(e);
  if (px < x0 - tol || px > x1 + tol || py < y0 - tol || py > y1 + tol) return false;
  if (e.type === "pen" && e.points) {
    const p = e.points;
    for (let i = 0; i + 3 < p.length; i += 2) {
      if (segDist(px, py, p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!) <= tol + e.width) return true;
    }
    return p.length === 2;
  }
  if (e.type === "line" || e.type === "arrow") return segDist(px, py, e.x, e.y, e.x + e.w, e.y + e.h) <= tol + e.width;
  return true;
}

function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export function moved(e: Element, dx: number, dy: number): Element {
  const out = { ...e, x: e.x + dx, y: e.y + dy };
  if (e.points) out.points = e.points.map((v, i) => Math.round((v + (i % 2 ? dy : dx)) * 10) / 10);
  return out;
}
