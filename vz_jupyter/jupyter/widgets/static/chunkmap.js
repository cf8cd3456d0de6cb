// vz_jupyter chunk-map canvas (anywidget ESM; hand-written, no build step, no CDN).
//
// Draws the payload built by vz_jupyter/jupyter/widgets/canvas.py:canvas_payload
// (vz_jupyter.display.chunkmap.chunk_map_data): cells coloured by source file
// (the same colours as the SVG fallback), missing chunks hatched, inlined chunks
// dotted, aggregated cells with several sources cross-hatched; hovering a cell
// names the file under the cursor (exactly, even when a drawn cell stands for
// many files: the payload says which file each position along the columns comes
// from), the chunk index and byte range. Files named by the check report are
// marked on a strip above the grid (red: error, orange: warning). Colours follow JupyterLab's theme (--jp-* CSS variables) and the map is
// redrawn when body[data-jp-theme-light] changes. Strings from Python are only
// ever assigned with textContent (never parsed as HTML).

const SCHEMA = "vz-chunkmap/1";
const CELL_MISSING = -1;
const CELL_INLINE = -2;
const STRIP = 7; // px: the findings strip above the grid

function isDarkTheme() {
  const body = document.body;
  const attr = body ? body.getAttribute("data-jp-theme-light") : null;
  if (attr !== null) return attr === "false";
  return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
}

function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  if (n < 1024) return `${n} B`;
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function fmtInt(n) {
  return Number(n).toLocaleString("en-US");
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function render({ model, el: root }) {
  root.classList.add("vz-cmap");
  const head = el("div", "vz-cmap-head");
  const wrap = el("div", "vz-cmap-wrap");
  const canvas = document.createElement("canvas");
  canvas.className = "vz-cmap-canvas";
  canvas.setAttribute("role", "img");
  const tip = el("div", "vz-cmap-tip");
  tip.style.display = "none";
  wrap.append(canvas, tip);
  const note = el("div", "vz-cmap-note");
  const legend = el("div", "vz-cmap-legend");
  root.append(head, wrap, note, legend);

  let layout = null; // {x0, y0, cw, ch, rows, cols}

  function colours() {
    const dark = isDarkTheme();
    return {
      dark,
      bg: cssVar(root, "--jp-layout-color0", dark ? "#111111" : "#ffffff"),
      fg: cssVar(root, "--jp-ui-font-color1", dark ? "rgba(255,255,255,0.87)" : "rgba(0,0,0,0.87)"),
      fg2: cssVar(root, "--jp-ui-font-color2", dark ? "rgba(255,255,255,0.54)" : "rgba(0,0,0,0.54)"),
      grid: cssVar(root, "--jp-border-color1", dark ? "#616161" : "#bdbdbd"),
      missing: cssVar(root, "--jp-layout-color3", dark ? "#424242" : "#e0e0e0"),
      inline: cssVar(root, "--jp-ui-font-color2", dark ? "#9e9e9e" : "#616161"),
      error: cssVar(root, "--jp-error-color1", dark ? "#ff8a80" : "#d32f2f"),
      warn: cssVar(root, "--jp-warn-color1", dark ? "#ffb74d" : "#f57c00"),
    };
  }

  function colourOf(id, c, d) {
    if (id === CELL_MISSING) return c.missing;
    if (id === CELL_INLINE) return c.inline;
    return (d.colours && d.colours[String(id)]) || "#888888";
  }

  // the file at chunk position p along the columns (binary search of col_sources)
  function sourceAt(d, p) {
    const cs = d.col_sources;
    if (!cs || !cs.length) return null;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cs[mid][0] <= p) lo = mid; else hi = mid - 1;
    }
    return cs[lo][1];
  }

  function nameOf(d, id) {
    if (d.names && id >= 0 && id < d.names.length) return d.names[id];
    const item = d.legend.find((it) => it.id === id);
    return item ? item.file : `file ${id + 1}`;
  }

  // chunk index (per grid axis) covered by drawn cell (r, k): a number or "a–b"
  function chunkIndex(d, r, k) {
    const span = (lo, n, total) => {
      const hi = Math.min(total, lo + n) - 1;
      return hi > lo ? `${lo}–${hi}` : String(lo);
    };
    return d.grid.map((g, a) => {
      if (a === d.row_axis) return span(r * d.block[0], d.block[0], d.view_shape[0]);
      if (a === d.col_axis) return span(k * d.block[1], d.block[1], d.view_shape[1]);
      return g > 1 ? `0–${g - 1}` : "0";
    });
  }

  function draw() {
    const d = model.get("data") || {};
    tip.style.display = "none";
    legend.replaceChildren();
    if (d.schema !== SCHEMA || d.empty) {
      head.textContent = d.message || "";
      canvas.width = 0;
      canvas.height = 0;
      canvas.style.width = "0px";
      canvas.style.height = "0px";
      note.textContent = "";
      layout = null;
      root.dataset.vzDrawn = "0";
      return;
    }
    const c = colours();
    const dims = d.dims.map((n, i) => `${n}: ${fmtInt(d.shape_array[i])}`).join(", ");
    head.textContent = `${d.title} (${dims}) · chunks ${d.chunks.join(" × ") || "()"} · grid ${d.grid.join(" × ") || "1"}`;
    note.textContent = (d.caption || []).join(" · ");

    const avail = Math.max(200, Math.min(root.clientWidth || 720, 1000) - 8);
    // cells fill the width available (whole pixels from 8 px up; below that a cell's
    // edges are rounded to pixels so neighbours never leave seams): never overflows
    let cw = Math.min(28, avail / d.cols);
    if (cw >= 8) cw = Math.floor(cw);
    const xAt = (k) => Math.round(k * cw) + 1;
    const ch = Math.max(2, Math.min(22, Math.floor(320 / d.rows)));
    const top = d.strip ? STRIP + 2 : 0;
    const w = Math.ceil(d.cols * cw) + 1;
    const h = top + d.rows * ch + 1;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    canvas.setAttribute("aria-label", `chunk map of ${d.variable}: ${d.rows} × ${d.cols} cells`);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, w, h);
    if (d.strip) {
      for (let k = 0; k < d.cols; k += 1) {
        const lv = d.strip[k];
        if (!lv) continue;
        ctx.fillStyle = lv === 2 ? c.error : c.warn;
        ctx.fillRect(xAt(k), 0, Math.max(xAt(k + 1) - xAt(k), 2), STRIP);
      }
    }
    ctx.save();
    ctx.translate(0, top);
    // a 1px gap between cells only when cells are big enough to keep their colour
    const gx = cw >= 6 ? 1 : 0;
    const gy = ch >= 6 ? 1 : 0;
    for (let r = 0; r < d.rows; r += 1) {
      for (let k = 0; k < d.cols; k += 1) {
        const i = r * d.cols + k;
        const id = d.cells[i];
        const x = xAt(k);
        const y = r * ch + 1;
        ctx.fillStyle = colourOf(id, c, d);
        ctx.fillRect(x, y, xAt(k + 1) - x - gx, ch - gy);
        if (id === CELL_MISSING && cw > 4 && ch > 4) {
          // missing chunk: hatched
          ctx.save();
          ctx.beginPath();
          ctx.rect(x, y, cw - 1, ch - 1);
          ctx.clip();
          ctx.strokeStyle = c.fg2;
          ctx.lineWidth = 1;
          for (let t = -ch; t < cw; t += 5) {
            ctx.beginPath();
            ctx.moveTo(x + t, y + ch);
            ctx.lineTo(x + t + ch, y);
            ctx.stroke();
          }
          ctx.restore();
        } else if (id === CELL_INLINE && cw > 5 && ch > 5) {
          // inlined chunk: a dot in the middle
          ctx.fillStyle = c.fg;
          ctx.beginPath();
          ctx.arc(x + (cw - 1) / 2, y + (ch - 1) / 2, Math.min(cw, ch) / 6, 0, 2 * Math.PI);
          ctx.fill();
        } else if (d.mixed[i] && cw > 4 && ch > 4) {
          // aggregated cell holding several sources: cross mark
          ctx.strokeStyle = c.bg;
          ctx.lineWidth = 1;
          ctx.beginPath();
          ctx.moveTo(x, y);
          ctx.lineTo(x + cw - 1, y + ch - 1);
          ctx.moveTo(x + cw - 1, y);
          ctx.lineTo(x, y + ch - 1);
          ctx.stroke();
        }
      }
    }
    // source boundaries along the columns (where the file changes in the first row),
    // only where cells are wide enough for a line not to hide them
    if (cw >= 4) {
      ctx.strokeStyle = c.fg;
      ctx.lineWidth = 1;
      for (let k = 1; k < d.cols; k += 1) {
        if (d.cells[k] !== d.cells[k - 1] && d.cells[k] >= 0 && d.cells[k - 1] >= 0) {
          ctx.beginPath();
          ctx.moveTo(xAt(k) - 0.5, 0);
          ctx.lineTo(xAt(k) - 0.5, h - top);
          ctx.stroke();
        }
      }
    }
    ctx.restore();
    layout = { cw, ch, top, rows: d.rows, cols: d.cols };

    for (const item of d.legend) {
      const row = el("div", "vz-cmap-leg");
      const sw = el("span", "vz-cmap-swatch");
      sw.style.background = item.colour || colourOf(item.id, c, d);
      const name = el("span", "vz-cmap-file", item.file);
      name.title = item.files > 1 ? `${item.file}: ${item.files} files in name order` : item.path;
      const files = item.files > 1 ? `${fmtInt(item.files)} files · ` : "";
      const stats = el("span", "vz-cmap-stats", `${files}${fmtInt(item.chunks)} chunks · ${formatBytes(item.bytes)}`);
      row.append(sw, name, stats);
      legend.append(row);
    }
    if (d.legend_more) {
      const runs = d.legend_more.runs ? ` in ${fmtInt(d.legend_more.runs)} more runs` : "";
      legend.append(el("div", "vz-cmap-more",
        `+${fmtInt(d.legend_more.files)} more files${runs} · ${fmtInt(d.legend_more.chunks)} chunks · ${formatBytes(d.legend_more.bytes)}`));
    }
    if (d.strip) {
      const row = el("div", "vz-cmap-leg");
      const levels = new Set(d.strip);
      for (const [lv, cls, label] of [[2, c.error, "file with an error"], [1, c.warn, "file with a warning"]]) {
        if (!levels.has(lv)) continue;
        const sw = el("span", "vz-cmap-swatch");
        sw.style.background = cls;
        row.append(sw, el("span", "vz-cmap-stats", label));
      }
      row.append(el("span", "vz-cmap-stats", "(strip above the map; hover it for the finding)"));
      legend.append(row);
    }
    if (d.n_missing > 0 || d.n_inline > 0) {
      const row = el("div", "vz-cmap-leg");
      if (d.n_missing > 0) {
        const sw = el("span", "vz-cmap-swatch");
        sw.style.background = c.missing;
        row.append(sw, el("span", "vz-cmap-stats", `missing (fill value): ${fmtInt(d.n_missing)}`));
      }
      if (d.n_inline > 0) {
        const sw = el("span", "vz-cmap-swatch");
        sw.style.background = c.inline;
        row.append(sw, el("span", "vz-cmap-stats", `inlined: ${fmtInt(d.n_inline)}`));
      }
      legend.append(row);
    }
    root.dataset.vzTheme = c.dark ? "dark" : "light";
    root.dataset.vzDrawn = String(d.rows * d.cols);
  }

  function cellAt(ev) {
    if (!layout) return null;
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left;
    const y = ev.clientY - rect.top;
    const k = Math.floor((x - 0.5) / layout.cw);
    let r = Math.floor((y - layout.top - 0.5) / layout.ch);
    if (layout.top && y < layout.top) r = -1; // the findings strip
    if (k < 0 || r < -1 || k >= layout.cols || r >= layout.rows) return null;
    if (r === -1 && !layout.top) return null;
    return { r, k, x, y };
  }

  function onMove(ev) {
    const cell = cellAt(ev);
    const d = model.get("data") || {};
    if (!cell || d.schema !== SCHEMA || d.empty) {
      tip.style.display = "none";
      return;
    }
    const strip = cell.r === -1;
    const i = Math.max(cell.r, 0) * d.cols + cell.k;
    // the chunk position under the cursor along the columns (exact, not the block's)
    const pos = Math.min(d.view_shape[1] - 1, Math.floor((cell.x - 0.5) / (layout.cw * d.cols) * d.view_shape[1]));
    const exact = d.aggregated ? sourceAt(d, pos) : null;
    let id = d.cells[i];
    if (exact !== null && exact >= 0 && id >= 0) id = exact;
    const lines = [];
    const flag = id >= 0 && d.flags ? d.flags[String(id)] : null;
    if (id >= 0) {
      lines.push(["vz-cmap-tip-file", nameOf(d, id)]);
      if (flag) lines.push([flag[0] === "error" ? "vz-cmap-tip-error" : "vz-cmap-tip-warn", flag[1]]);
    } else if (strip) {
      lines.push(["vz-cmap-tip-file", "no file with a finding here"]);
    } else if (id === CELL_MISSING) {
      lines.push(["vz-cmap-tip-file", "missing chunk (reads as the fill value)"]);
    } else {
      lines.push(["vz-cmap-tip-file", "inlined chunk (bytes stored in the references)"]);
    }
    const idx = chunkIndex(d, Math.max(cell.r, 0), cell.k);
    if (d.aggregated && d.col_axis !== null && d.col_axis !== undefined) idx[d.col_axis] = String(pos);
    lines.push(["", `${d.variable} chunk (${idx.join(", ")})`]);
    if (d.offset && d.length && id >= 0) {
      const off = d.offset[i];
      const len = d.length[i];
      lines.push(["", `bytes ${fmtInt(off)}–${fmtInt(off + len)} (${formatBytes(len)})`]);
    } else if (d.length && id === CELL_INLINE) {
      lines.push(["", `${formatBytes(d.length[i])} inline`]);
    } else if (d.aggregated) {
      const bc = d.block[1];
      const a0 = sourceAt(d, cell.k * bc);
      const a1 = sourceAt(d, Math.min(d.view_shape[1] - 1, (cell.k + 1) * bc - 1));
      if (a0 !== null && a1 !== null && a0 >= 0 && a1 >= 0 && a0 !== a1) {
        lines.push(["", `this cell: ${fmtInt(bc)} chunk positions, ${nameOf(d, a0)} … ${nameOf(d, a1)}`]);
      } else {
        lines.push(["", d.mixed[i] ? "a block of chunks from several files" : "a block of chunks"]);
      }
    }
    tip.replaceChildren(...lines.map(([cls, t]) => el("div", cls, t)));
    tip.style.display = "block";
    const wrapRect = wrap.getBoundingClientRect();
    const left = Math.min(ev.clientX - wrapRect.left + 14, Math.max(0, wrap.clientWidth - 260));
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${ev.clientY - wrapRect.top + 14}px`;
    root.dataset.vzHover = String(i);
  }

  function onLeave() {
    tip.style.display = "none";
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  model.on("change:data", draw);

  // Redraw when JupyterLab switches between light and dark themes.
  const observer = new MutationObserver(() => draw());
  if (document.body) {
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }
  let resizeTimer = null;
  const resize = typeof ResizeObserver !== "undefined"
    ? new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(draw, 100);
    })
    : null;
  if (resize) resize.observe(root);

  draw();
  return () => {
    observer.disconnect();
    if (resize) resize.disconnect();
    clearTimeout(resizeTimer);
    model.off("change:data", draw);
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
  };
}

export default { render };
