"""The interactive comparison as one self-contained HTML file, for people who do not run the app: every
image of the session as lossless PNG inside the file, a split slider between any two, side by side with
one zoom and pan for all (pixel-exact at 100 % and above), the readouts and headline, this image's RD
curves when measured, mspview's bytes per scale and its bit map over the image with hover values, the
settings, versions and weights. No script, font or image is fetched: it opens from a mail attachment.

Qt-free: built from the session and a result, like report.py; `mspview report` and File → Export
interactive report… both call `write_html`.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from .jobs import EncodeResult
from .report import report_data
from .session import ROWS, Session, cells, headline


def _finite(v):
    """JSON for a browser: NaN and infinities (an MS-SSIM of a small image) become null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return _finite(v.item())
    return v


def png_data_uri(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=9)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def estimated_bytes(session: Session) -> int:
    """What the file will weigh, before it is written (PNG at ~60 % of raw RGB for photos, base64 4/3)."""
    return int(sum(v.pixels.nbytes for v in session.views()) * 0.6 * 4 / 3) + 200_000


def _bit_map(result: EncodeResult) -> dict | None:
    maps = result.ours.bitmaps
    if maps is None:
        return None
    grid = maps.blocks().astype(np.float32)  # the app's default map: bits per position of each block
    return {"h": grid.shape[0], "w": grid.shape[1], "max": float(grid.max()) or 1.0,
            "data": base64.b64encode(grid.tobytes()).decode()}


def _rd_svg(session: Session) -> str:
    rd = session.rd
    if rd is None or not rd.points:
        return ""
    w, h, pad = 520, 300, 44
    xs = [p.bpp for p in rd.points]
    ys = [p.psnr for p in rd.points]
    x0, x1, y0, y1 = 0.0, max(xs) * 1.05, min(ys) - 0.5, max(ys) + 0.5
    sx = lambda v: pad + (v - x0) / (x1 - x0) * (w - 2 * pad)  # noqa: E731
    sy = lambda v: h - pad - (v - y0) / (y1 - y0) * (h - 2 * pad)  # noqa: E731
    parts = [f'<div><h3>This image\'s RD curves (BD-rate {html.escape(_bd_text(rd.bd))})</h3><svg id="rd" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-size="11">',
             f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#999"/>']
    for i in range(5):
        bx, py = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        parts.append(f'<text x="{sx(bx):.1f}" y="{h - pad + 14}" text-anchor="middle">{bx:.2f}</text>')
        parts.append(f'<text x="{pad - 4}" y="{sy(py) + 4:.1f}" text-anchor="end">{py:.1f}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">bits per pixel</text>')
    parts.append(f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" text-anchor="middle">PSNR-RGB dB</text>')
    for codec, colour in (("mspview", "#4e79a7"), (rd.codec, "#f28e2b")):
        pts = rd.curve(codec)
        if pts:
            path = " ".join(f"{sx(p.bpp):.1f},{sy(p.psnr):.1f}" for p in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts += [f'<circle cx="{sx(p.bpp):.1f}" cy="{sy(p.psnr):.1f}" r="3" fill="{colour}">'
                      f'<title>{html.escape(codec)}: {p.bpp:.4f} bpp, {p.psnr:.2f} dB</title></circle>' for p in pts]
    parts.append("</svg></div>")
    return "".join(parts)


def _bd_text(bd: dict) -> str:
    return ", ".join(f"{k} {v:+.1f} %" if isinstance(v, float) else f"{k}: {v}" for k, v in bd.items()) or "none"


def _scale_bars(result: EncodeResult) -> str:
    dec = result.ours.decoded
    if dec is None:
        return ""
    scales = dec.header.scales
    top = max(r.nbytes for r in scales) or 1
    rows = "".join(f'<tr><td>{"base" if r.scale == dec.header.num_scales else f"scale {r.scale}"}</td>'
                   f'<td class="num">{r.nbytes:,}</td><td><div class="bar" style="width:{200 * r.nbytes / top:.0f}px">'
                   f'</div></td></tr>' for r in scales)
    return f'<table class="bars"><tr><th>mspview stream</th><th>bytes</th><th></th></tr>{rows}</table>'


def build_html(session: Session, result: EncodeResult, settings: dict, weights: dict) -> str:
    views = session.views()
    data = report_data(session, result, settings, weights)
    images = [{"name": v.name, "src": png_data_uri(v.pixels), "msp": v.item is not None and v.item.suffix == ".msp"}
              for v in views]
    readouts = {"rows": ROWS, "columns": [{"title": i.readout.title, "cells": cells(i.readout)} for i in result.items]}
    payload = {"images": images, "bitmap": _bit_map(result), "readouts": readouts,
               "headline": headline(result).split("\n"), "report": data}
    table = "".join(f"<th>{html.escape(c['title'])}</th>" for c in readouts["columns"])
    body = "".join("<tr><th>" + html.escape(row) + "</th>" + "".join(
        f"<td>{html.escape(c['cells'][k]).replace(chr(10), '<br>')}</td>" for c in readouts["columns"]) + "</tr>"
        for k, row in enumerate(ROWS))
    title = html.escape(f"mspview comparison: {session.title}")
    return (_TEMPLATE.replace("%TITLE%", title)
            .replace("%HEADLINE%", "<br>".join(html.escape(line) for line in payload["headline"]))
            .replace("%TABLE%", f"<table id=\"readouts\"><tr><th></th>{table}</tr>{body}</table>")
            .replace("%RD%", _rd_svg(session)).replace("%BARS%", _scale_bars(result))
            .replace("%META%", html.escape(json.dumps({k: data[k] for k in ("settings", "weights", "versions")},
                                                      indent=1, default=str)))
            .replace("%DATA%", json.dumps(_finite(payload), default=str).replace("</", "<\\/")))


def write_html(path: Path, session: Session, result: EncodeResult, settings: dict, weights: dict) -> Path:
    path = Path(path)
    path.write_text(build_html(session, result, settings, weights), encoding="utf-8")
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>%TITLE%</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{padding:8px 12px;background:#2b2b2b;color:#eee}
#bar{display:flex;gap:10px;align-items:center;padding:6px 12px;background:#ddd;flex-wrap:wrap}
#view{position:relative;height:70vh;overflow:hidden;background:#555;cursor:grab;user-select:none}
.pane{position:absolute;top:0;bottom:0;overflow:hidden}
.pane img,.pane canvas{position:absolute;left:0;top:0;transform-origin:0 0;image-rendering:pixelated}
.label{position:absolute;top:4px;left:4px;background:rgba(0,0,0,.6);color:#fff;padding:2px 6px;font-size:12px;z-index:3}
#handle{position:absolute;top:0;bottom:0;width:3px;background:#fff;z-index:4;cursor:ew-resize}
#status{padding:4px 12px;font-family:monospace;min-height:1.2em}
section{padding:8px 12px}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
.num{text-align:right}.bar{height:10px;background:#4e79a7}
pre{background:#fff;padding:6px;overflow:auto}
</style></head><body>
<header><b>%TITLE%</b><div id="headline">%HEADLINE%</div></header>
<div id="bar">
 <label>left <select id="left"></select></label><label>right <select id="right"></select></label>
 <label><input type="radio" name="mode" value="split" checked> split</label>
 <label><input type="radio" name="mode" value="side"> side by side</label>
 <button id="fit">fit</button><button id="z100">100 %</button><button id="zin">+</button><button id="zout">−</button>
 <span id="zoom"></span>
 <label><input type="checkbox" id="bits"> mspview bit map</label>
 <label>split <input type="range" id="split" min="0" max="1000" value="500"></label>
</div>
<div id="view"></div>
<div id="status">hover the image for pixel values</div>
<section><h3>Readouts</h3>%TABLE%</section>
<section style="display:flex;gap:24px;flex-wrap:wrap">%RD%<div><h3>Bytes per scale</h3>%BARS%</div></section>
<section><h3>Settings, versions, weights</h3><pre id="meta">%META%</pre></section>
<script type="application/json" id="data">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const view = document.getElementById("view"), status = document.getElementById("status");
const st = {left: 0, right: Math.min(1, D.images.length - 1), mode: "split", split: 0.5, zoom: 1, x: 0, y: 0, bits: false};
const W = [], H = [], pix = [];
let bitCanvas = null, bitValues = null;
function loadImages(done) {
  let left = D.images.length;
  D.images.forEach((im, i) => {
    const img = new Image();
    img.onload = () => {
      W[i] = img.naturalWidth; H[i] = img.naturalHeight;
      const c = document.createElement("canvas"); c.width = W[i]; c.height = H[i];
      const g = c.getContext("2d"); g.drawImage(img, 0, 0); pix[i] = g.getImageData(0, 0, W[i], H[i]).data;
      if (--left === 0) done();
    };
    img.src = im.src;
  });
}
function makeBits() {
  const b = D.bitmap; if (!b) return;
  const raw = Uint8Array.from(atob(b.data), c => c.charCodeAt(0));
  bitValues = new Float32Array(raw.buffer);
  bitCanvas = document.createElement("canvas"); bitCanvas.width = b.w; bitCanvas.height = b.h;
  const g = bitCanvas.getContext("2d"), id = g.createImageData(b.w, b.h);
  for (let k = 0; k < b.w * b.h; k++) {
    const t = Math.min(1, bitValues[k] / b.max);
    id.data[4 * k] = 255 * Math.min(1, 1.5 * t); id.data[4 * k + 1] = 255 * Math.max(0, 1.5 * t - 0.5);
    id.data[4 * k + 2] = 40; id.data[4 * k + 3] = 150;
  }
  g.putImageData(id, 0, 0);
}
function paneImages() { return st.mode === "split" ? [st.left, st.right] : D.images.map((_, i) => i); }
function layout() {
  view.innerHTML = "";
  const vw = view.clientWidth, vh = view.clientHeight, shown = paneImages();
  const n = st.mode === "split" ? 1 : shown.length, cols = Math.ceil(Math.sqrt(n)), rows = Math.ceil(n / cols);
  const pw = Math.floor(vw / cols), ph = Math.floor(vh / rows);
  shown.forEach((idx, k) => {
    const pane = document.createElement("div"); pane.className = "pane"; pane.dataset.index = idx;
    const cell = st.mode === "split" ? 0 : k;
    pane.style.left = (cell % cols) * pw + "px"; pane.style.top = Math.floor(cell / cols) * ph + "px";
    pane.style.width = pw + "px"; pane.style.height = ph + "px";
    if (st.mode === "split" && k === 1) pane.style.clipPath = `inset(0 0 0 ${Math.round(st.split * pw)}px)`;
    const img = document.createElement("img"); img.src = D.images[idx].src; img.draggable = false; pane.appendChild(img);
    if (st.bits && bitCanvas && D.images[idx].msp) {
      const c = document.createElement("canvas"); c.width = bitCanvas.width; c.height = bitCanvas.height;
      c.getContext("2d").drawImage(bitCanvas, 0, 0); c.className = "bits"; c.style.opacity = 0.6; pane.appendChild(c);
    }
    const label = document.createElement("div"); label.className = "label"; label.textContent = D.images[idx].name;
    if (st.mode === "split" && k === 1) { label.style.left = "auto"; label.style.right = "4px"; }
    pane.appendChild(label); view.appendChild(pane);
  });
  if (st.mode === "split") {
    const h = document.createElement("div"); h.id = "handle"; h.style.left = (Math.round(st.split * pw) - 1) + "px";
    view.appendChild(h);
  }
  place();
}
function place() {
  for (const pane of view.querySelectorAll(".pane")) {
    const i = +pane.dataset.index;
    for (const el of pane.querySelectorAll("img,canvas")) {
      const s = el.tagName === "CANVAS" ? st.zoom * W[i] / el.width : st.zoom;
      el.style.transform = `translate(${Math.round(st.x)}px,${Math.round(st.y)}px) scale(${s})`;
    }
  }
  document.getElementById("zoom").textContent = Math.round(st.zoom * 100) + " %";
}
function paneSize() { const p = view.querySelector(".pane"); return [p.clientWidth, p.clientHeight]; }
function fit() {
  const [pw, ph] = paneSize(), i = st.left;
  st.zoom = Math.min(pw / W[i], ph / H[i]); st.x = (pw - W[i] * st.zoom) / 2; st.y = (ph - H[i] * st.zoom) / 2; place();
}
function zoomAt(z, cx, cy) {
  const k = z / st.zoom; st.x = cx - (cx - st.x) * k; st.y = cy - (cy - st.y) * k; st.zoom = z; place();
}
function centre() { const [pw, ph] = paneSize(); return [pw / 2, ph / 2]; }
const steps = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32];
function step(dir) {
  const next = dir > 0 ? steps.find(s => s > st.zoom + 1e-9) : [...steps].reverse().find(s => s < st.zoom - 1e-9);
  if (next) zoomAt(next, ...centre());
}
function fill(sel, value) {
  sel.innerHTML = ""; D.images.forEach((im, i) => sel.add(new Option(im.name, i))); sel.value = value;
}
function describe(ev) {
  const pane = ev.target.closest(".pane"); if (!pane) return;
  const r = pane.getBoundingClientRect(), px = Math.floor((ev.clientX - r.left - st.x) / st.zoom),
        py = Math.floor((ev.clientY - r.top - st.y) / st.zoom);
  const parts = [`x ${px} y ${py}`];
  for (const i of paneImages()) {
    if (px < 0 || py < 0 || px >= W[i] || py >= H[i]) continue;
    const o = 4 * (py * W[i] + px); parts.push(`${D.images[i].name}: (${pix[i][o]}, ${pix[i][o + 1]}, ${pix[i][o + 2]})`);
  }
  if (bitValues && px >= 0 && py >= 0 && px < W[st.left] && py < H[st.left]) {
    const lx = Math.floor(px / 16), ly = Math.floor(py / 16);
    if (lx < D.bitmap.w && ly < D.bitmap.h) parts.push(`mspview bits at latent (${lx}, ${ly}): ${bitValues[ly * D.bitmap.w + lx].toFixed(1)} (${(bitValues[ly * D.bitmap.w + lx] / 256).toFixed(3)} bpp)`);
  }
  status.textContent = parts.join("   ");
}
let drag = null;
view.addEventListener("mousedown", ev => {
  drag = {onHandle: ev.target.id === "handle", x: ev.clientX, y: ev.clientY, ox: st.x, oy: st.y};
});
window.addEventListener("mouseup", () => { drag = null; });
view.addEventListener("mousemove", ev => {
  describe(ev);
  if (!drag) return;
  if (drag.onHandle) {
    const r = view.getBoundingClientRect();
    st.split = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));
    document.getElementById("split").value = Math.round(st.split * 1000); layout();
  } else { st.x = drag.ox + ev.clientX - drag.x; st.y = drag.oy + ev.clientY - drag.y; place(); }
});
view.addEventListener("wheel", ev => {
  ev.preventDefault(); const pane = ev.target.closest(".pane"); if (!pane) return;
  const r = pane.getBoundingClientRect(); zoomAt(st.zoom * (ev.deltaY < 0 ? 1.25 : 0.8), ev.clientX - r.left, ev.clientY - r.top);
}, {passive: false});
document.getElementById("split").addEventListener("input", ev => { st.split = ev.target.value / 1000; layout(); });
document.getElementById("left").addEventListener("change", ev => { st.left = +ev.target.value; layout(); });
document.getElementById("right").addEventListener("change", ev => { st.right = +ev.target.value; layout(); });
document.getElementById("bits").addEventListener("change", ev => { st.bits = ev.target.checked; layout(); });
for (const r of document.querySelectorAll("input[name=mode]")) r.addEventListener("change", ev => { st.mode = ev.target.value; layout(); fit(); });
document.getElementById("fit").onclick = fit;
document.getElementById("z100").onclick = () => { const [cx, cy] = centre(); zoomAt(1, cx, cy); st.x = Math.round(st.x); st.y = Math.round(st.y); place(); };
document.getElementById("zin").onclick = () => step(1);
document.getElementById("zout").onclick = () => step(-1);
window.addEventListener("resize", () => { layout(); });
loadImages(() => {
  makeBits(); fill(document.getElementById("left"), st.left); fill(document.getElementById("right"), st.right);
  layout(); fit(); document.body.dataset.ready = "1";
});
</script></body></html>
"""
