// vz_jupyter combine widget: the file list (anywidget ESM; hand-written, no build step, no CDN).
//
// Draws the payload of vz_jupyter/jupyter/widgets/filelist.py:file_list_payload:
// problems pinned on top, the files in order with runs of clean files collapsed
// ("day_0001.nc … day_0365.nc · 365 files, in name order"), the files left out.
// Rows have one height and only the visible ones are in the DOM, so 1,500 files
// cost the same as 15. Actions go back to Python as small messages
// ({action: "remove" | "include" | "include-all" | "move", id, before}).
// Strings from Python are only ever assigned with textContent.

const SCHEMA = "vz-filelist/1";
const ROW = 24; // px per row
const MAX_HEIGHT = 312; // px: thirteen rows, then the box scrolls
const OVERSCAN = 6;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function fmtInt(n) {
  return Number(n).toLocaleString("en-US");
}

function plural(n, word) {
  return `${fmtInt(n)} ${word}${n === 1 ? "" : "s"}`;
}

function render({ model, el: root }) {
  root.classList.add("vz-fl");
  const scroll = el("div", "vz-fl-scroll");
  scroll.setAttribute("role", "list");
  const spacer = el("div", "vz-fl-spacer");
  scroll.append(spacer);
  root.append(scroll);

  const expanded = new Set(); // first file id of each expanded run
  let rows = [];
  let dragId = null;

  function build(d) {
    const out = [];
    const names = d.names || [];
    const flags = d.flags || {};
    const nPinned = (d.pinned || []).length + (d.unread || []).length;
    if (nPinned) {
      out.push({ kind: "head", text: `Needs attention (${fmtInt(nPinned)})`, cls: "vz-fl-head-warn" });
      for (const p of d.pinned || []) {
        out.push({ kind: "finding", level: p.level, code: p.code, text: p.text });
        if (p.fix) out.push({ kind: "fix", level: p.level, text: p.fix });
        for (const id of p.ids) out.push({ kind: "file", id, pinned: true, level: p.level });
        if (p.more) out.push({ kind: "note", text: `+${plural(p.more, "more file")} (marked in the list below)` });
      }
      if (d.pinned_more) out.push({ kind: "note", text: `+${plural(d.pinned_more, "more finding")} in the check report` });
      for (const u of d.unread || []) out.push({ kind: "unread", text: u });
      if (d.unread_more) out.push({ kind: "note", text: `+${plural(d.unread_more, "more file")} not read` });
    }
    const order = d.order || [];
    out.push({ kind: "head", text: `In the combine, in this order (${plural(order.length, "file")})` });
    const runAt = new Map((d.runs || []).map(([a, b]) => [a, b]));
    let k = 0;
    while (k < order.length) {
      const stop = runAt.get(k);
      if (stop !== undefined) {
        const first = order[k];
        const open = expanded.has(first);
        out.push({ kind: "run", start: k, stop, first, last: order[stop - 1], open });
        if (open) for (let j = k; j < stop; j += 1) out.push({ kind: "file", id: order[j], pos: j, inRun: true });
        k = stop;
      } else {
        out.push({ kind: "file", id: order[k], pos: k, level: flags[String(order[k])] });
        k += 1;
      }
    }
    if (!order.length) out.push({ kind: "note", text: d.busy ? "scanning…" : "no files in the combine" });
    out.push({ kind: "end" });
    const left = d.left_out || [];
    if (left.length) {
      out.push({ kind: "head", text: `Left out (${fmtInt(left.length)})`, action: "include-all" });
      for (const id of left) out.push({ kind: "left", id });
    }
    for (const r of out) if (r.id !== undefined) r.name = names[r.id] || `file ${r.id}`;
    return out;
  }

  function send(msg) {
    model.send(msg);
  }

  function button(label, title, msg) {
    const b = el("button", "vz-fl-btn", label);
    b.type = "button";
    b.title = title;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      send(msg);
    });
    return b;
  }

  function dropTarget(node, beforeId) {
    node.addEventListener("dragover", (ev) => {
      if (dragId === null) return;
      ev.preventDefault();
      node.classList.add("vz-fl-drop");
    });
    node.addEventListener("dragleave", () => node.classList.remove("vz-fl-drop"));
    node.addEventListener("drop", (ev) => {
      ev.preventDefault();
      node.classList.remove("vz-fl-drop");
      if (dragId !== null && dragId !== beforeId) send({ action: "move", id: dragId, before: beforeId });
      dragId = null;
    });
  }

  function rowNode(r) {
    const row = el("div", `vz-fl-row vz-fl-${r.kind}`);
    row.setAttribute("role", "listitem");
    if (r.kind === "head") {
      row.append(el("span", `vz-fl-headtext ${r.cls || ""}`, r.text));
      if (r.action) row.append(button("bring all back", "put every left-out file back at the end", { action: r.action }));
      if (r.text.startsWith("In the combine")) dropTarget(row, (model.get("data").order || [])[0] ?? null);
    } else if (r.kind === "finding") {
      row.classList.add(`vz-fl-${r.level}`);
      row.append(el("span", "vz-fl-icon", r.level === "error" ? "✖" : "▲"),
        el("span", "vz-fl-code", r.code), el("span", "vz-fl-text", r.text));
      row.title = r.text;
    } else if (r.kind === "fix") {
      row.append(el("span", "vz-fl-text", `Fix: ${r.text}`));
      row.title = r.text;
    } else if (r.kind === "note" || r.kind === "unread") {
      row.append(el("span", "vz-fl-text", r.kind === "unread" ? `not read: ${r.text}` : r.text));
      row.title = r.text;
    } else if (r.kind === "end") {
      row.append(el("span", "vz-fl-text", "end of the list (drop a file here to move it last)"));
      dropTarget(row, null);
    } else if (r.kind === "run") {
      const n = r.stop - r.start;
      const tog = el("span", "vz-fl-toggle", r.open ? "▾" : "▸");
      row.append(tog, el("span", "vz-fl-pos", `#${fmtInt(r.start + 1)}–${fmtInt(r.stop)}`),
        el("span", "vz-fl-name", `${rows.names[r.first]} … ${rows.names[r.last]}`),
        el("span", "vz-fl-text", `${plural(n, "file")}, in name order`));
      row.title = r.open ? "click to collapse" : "click to list these files";
      row.tabIndex = 0;
      const toggle = () => {
        if (expanded.has(r.first)) expanded.delete(r.first);
        else expanded.add(r.first);
        redraw(true);
      };
      row.addEventListener("click", toggle);
      row.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(); } });
      dropTarget(row, r.first);
    } else if (r.kind === "file" || r.kind === "left") {
      if (r.level) row.classList.add(`vz-fl-${r.level}`);
      if (r.inRun) row.classList.add("vz-fl-inrun");
      if (r.pinned) row.classList.add("vz-fl-pinned");
      row.dataset.id = String(r.id);
      if (r.kind === "file" && !r.pinned) {
        row.draggable = true;
        row.append(el("span", "vz-fl-grip", "⋮⋮"));
        row.addEventListener("dragstart", (ev) => {
          dragId = r.id;
          ev.dataTransfer.effectAllowed = "move";
          ev.dataTransfer.setData("text/plain", r.name);
        });
        row.addEventListener("dragend", () => { dragId = null; });
        dropTarget(row, r.id);
      }
      if (r.pos !== undefined) row.append(el("span", "vz-fl-pos", `#${fmtInt(r.pos + 1)}`));
      row.append(el("span", "vz-fl-icon", r.level === "error" ? "✖" : r.level ? "▲" : ""));
      const name = el("span", "vz-fl-name", r.name);
      name.title = r.name;
      row.append(name);
      if (r.kind === "left") row.append(button("bring back", `put ${r.name} back (at the end)`, { action: "include", id: r.id }));
      else row.append(button("×", `leave ${r.name} out of the combine`, { action: "remove", id: r.id }));
    }
    return row;
  }

  let first = -1;
  let last = -1;
  function paint(force) {
    const top = scroll.scrollTop;
    const h = scroll.clientHeight || MAX_HEIGHT;
    const a = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const b = Math.min(rows.length, Math.ceil((top + h) / ROW) + OVERSCAN);
    if (!force && a === first && b === last) return;
    first = a;
    last = b;
    const nodes = [];
    for (let i = a; i < b; i += 1) {
      const node = rowNode(rows[i]);
      node.style.top = `${i * ROW}px`;
      nodes.push(node);
    }
    spacer.replaceChildren(...nodes);
  }

  function redraw(keepScroll) {
    const d = model.get("data") || {};
    if (d.schema !== SCHEMA) {
      rows = [];
      rows.names = [];
      spacer.replaceChildren();
      spacer.style.height = "0px";
      return;
    }
    const top = scroll.scrollTop;
    rows = build(d);
    rows.names = d.names || [];
    spacer.style.height = `${rows.length * ROW}px`;
    scroll.style.height = `${Math.min(rows.length * ROW, MAX_HEIGHT) + 2}px`;
    if (keepScroll) scroll.scrollTop = top;
    root.dataset.vzRows = String(rows.length);
    root.dataset.vzFiles = String((d.order || []).length);
    paint(true);
  }

  scroll.addEventListener("scroll", () => paint(false));
  const onChange = () => redraw(true);
  model.on("change:data", onChange);
  redraw(false);
  return () => model.off("change:data", onChange);
}

export default { render };
