/* archc report page: sortable table, pan/zoom diagram with collapsible blocks, layer
 * details, and (under `archc serve`) live reload with diagnostics. No libraries, no network.
 *
 * Collapsing a block works on the SVG that Graphviz laid out, without a new layout: the
 * block's members are hidden, a box takes its place, and when nothing else sits beside the
 * block the vertical band it occupied is squeezed to the box's height by remapping every
 * y coordinate of the drawing through one monotone piecewise-linear function. Edges that
 * cross the band are remapped point by point, so they stay attached.
 */
(function () {
  "use strict";
  if (window.performance && performance.mark) performance.mark("archc-script-start");

  var dataEl = document.getElementById("archc-data");
  var data = dataEl
    ? JSON.parse(dataEl.textContent)
    : { nodes: [], modules: [], docs: [], summary: {} };
  var liveEl = document.getElementById("archc-live");
  var live = liveEl ? JSON.parse(liveEl.textContent) : null;
  var nodeByName = {};
  var rowByName = {};
  var moduleByPath = {};
  data.nodes.forEach(function (n) { nodeByName[n.name] = n; });
  data.modules.forEach(function (m) { moduleByPath[m.path] = m; });
  var storeKey = "archc:" + (data.summary.spec || "") + ":" + (data.summary.variant || "");

  // Docs are embedded once each (a repeated block's doc is shared); layers hold an index.
  function docOf(entry) { return entry.doc === null ? "" : data.docs[entry.doc]; }
  function fmt(n) { return n ? n.toLocaleString("en-US") : "0"; }
  function si(n) {
    var units = [["G", 1e9], ["M", 1e6], ["K", 1e3]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(n) >= units[i][1]) return (n / units[i][1]).toFixed(2) + units[i][0];
    }
    return String(n);
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // --- details panel ------------------------------------------------------------------
  var panel = document.getElementById("archc-details");
  var pinned = null; // {type: "node"|"module", key}

  function fill(title, kind, rows, note) {
    if (!panel) return;
    panel.textContent = "";
    panel.appendChild(el("h3", null, title));
    panel.appendChild(el("p", { "class": "kind" }, kind));
    var dl = el("dl");
    rows.forEach(function (r) {
      if (r[1] === "" || r[1] === null || r[1] === undefined) return;
      dl.appendChild(el("dt", null, r[0]));
      dl.appendChild(el("dd", { "data-field": r[0] }, String(r[1])));
    });
    panel.appendChild(dl);
    if (note) panel.appendChild(el("p", { "class": "pinned" }, note));
  }

  function showNode(name) {
    var n = nodeByName[name];
    if (!n) return;
    var ins = n["in"].map(function (v, i) {
      return n.inputs ? v + " (" + n.inputs[i] + ")" : v;
    }).join(" + ");
    var params = fmt(n.params);
    if (n.params && n.trainable !== undefined && n.trainable !== n.params) {
      params += " (" + fmt(n.trainable) + " trainable)";
    }
    fill(n.name, n.type + (n.kind ? ": " + n.kind : ""), [
      ["doc", docOf(n)],
      ["hyperparameters", n.hyper],
      ["volume in", ins],
      ["volume out", n.out],
      ["params", params],
      ["buffers", n.buffers ? fmt(n.buffers) : ""],
      ["MACs", fmt(n.macs) + (n.macs >= 1000 ? " (" + si(n.macs) + ")" : "")],
      ["activations", fmt(n.acts)],
      ["receptive field", n.rf ? n.rf.replace(" / ", " px, jump ") : ""],
      ["block", n.block ? n.block + blockWhere(n.block) : ""],
      ["spec", n.file + ":" + n.line + ":" + n.col],
    ], pinned && pinned.key === name ? "selected (click the background to unpin)" : "");
  }

  function blockWhere(path) {
    // A layer written inside a block body names the body's line; say where the
    // instance itself is written too.
    var m = moduleByPath[path];
    return m && m.block ? " (" + m.block + ", line " + m.line + ")" : "";
  }

  function showModule(path) {
    var m = moduleByPath[path];
    if (!m) return;
    var what = m.block ? m.block + " block" : m.kind;
    fill(m.path, what + ", " + m.layers + " layers", [
      ["doc", docOf(m)],
      ["volume in", m["in"]],
      ["volume out", m.out],
      ["params", fmt(m.params)],
      ["MACs", fmt(m.macs) + (m.macs >= 1000 ? " (" + si(m.macs) + ")" : "")],
      ["spec", m.file + ":" + m.line],
    ], collapsed[path] ? "collapsed: click it to expand" : "click its background to collapse");
  }

  function restorePanel() {
    if (pinned && pinned.type === "node") showNode(pinned.key);
    else if (pinned && pinned.type === "module") showModule(pinned.key);
    else if (panel) {
      panel.textContent = "";
      panel.appendChild(el("p", { "class": "note" }, "Hover or click a layer to see its details."));
    }
  }

  // --- table ----------------------------------------------------------------------------
  var table = document.getElementById("archc-table");
  if (table) {
    var tbody = table.tBodies[0];
    Array.prototype.forEach.call(tbody.rows, function (row) {
      rowByName[row.getAttribute("data-node")] = row;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      function sort() {
        var numeric = th.getAttribute("data-num") === "1";
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(tbody.rows);
        var keyed = rows.map(function (row) {
          var cell = row.cells[index];
          var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
          // Ties keep the network's order (the # column), whatever the previous sort.
          var i = +row.cells[0].getAttribute("data-v");
          return { row: row, i: i, v: numeric || cell.hasAttribute("data-v") ? +raw : raw };
        });
        keyed.sort(function (a, b) {
          var c = a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
          return c * dir || a.i - b.i;
        });
        var frag = document.createDocumentFragment();
        keyed.forEach(function (k) { frag.appendChild(k.row); });
        tbody.appendChild(frag);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
    tbody.addEventListener("click", function (e) {
      var row = e.target.closest("tr");
      if (!row) return;
      select(row.getAttribute("data-node"), true);
      var diagram = document.getElementById("archc-diagram");
      if (diagram && diagram.scrollIntoView) diagram.scrollIntoView({ block: "nearest" });
    });
  }

  // --- diagram --------------------------------------------------------------------------
  var canvas = document.getElementById("archc-canvas");
  var svg = canvas ? canvas.querySelector("svg") : null;
  var root = svg ? svg.querySelector("g.graph") : null;
  var collapsed = {};
  var nodes = {};      // name -> {g, box}
  var clusters = {};   // path -> {g, box, members, squash}
  var edges = [];      // {g, src, dst}
  var geometry = [];   // every coordinate-carrying element, with its original numbers
  var placeholders = null;
  var view = { x: 0, y: 0, s: 1 };
  var timings = {};
  var matrix = null;
  var BOX_H = 46;
  var BOX_W = 190;
  var PAIR = /(-?\d*\.?\d+(?:e[-+]?\d+)?),(-?\d*\.?\d+(?:e[-+]?\d+)?)/gi;

  function record(e) {
    var tag = e.tagName.toLowerCase();
    var attr = tag === "path" ? "d" : (tag === "polygon" || tag === "polyline") ? "points" : null;
    if (attr) {
      var s = e.getAttribute(attr) || "";
      var parts = [], xs = [], ys = [], last = 0, m;
      PAIR.lastIndex = 0;
      while ((m = PAIR.exec(s)) !== null) {
        parts.push(s.slice(last, m.index) + m[1] + ",");
        xs.push(+m[1]); ys.push(+m[2]);
        last = m.index + m[0].length;
      }
      return { e: e, attr: attr, parts: parts, xs: xs, ys: ys, tail: s.slice(last),
               max: Math.max.apply(null, ys.length ? ys : [0]), dirty: false };
    }
    var a = tag === "ellipse" ? "cy" : tag === "text" ? "y" : null;
    if (!a || !e.hasAttribute(a)) return null;
    var y = +e.getAttribute(a);
    return { e: e, attr: a, ys: [y], xs: [], max: y, dirty: false };
  }

  function boxOf(g) {
    var b = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    g.querySelectorAll("path, polygon, ellipse").forEach(function (e) {
      var r = e.__archc;
      if (!r) return;
      if (r.parts) {
        r.xs.forEach(function (x) { b.x0 = Math.min(b.x0, x); b.x1 = Math.max(b.x1, x); });
        r.ys.forEach(function (y) { b.y0 = Math.min(b.y0, y); b.y1 = Math.max(b.y1, y); });
      } else {
        var cx = +e.getAttribute("cx"), rx = +e.getAttribute("rx"), ry = +e.getAttribute("ry");
        b.x0 = Math.min(b.x0, cx - rx); b.x1 = Math.max(b.x1, cx + rx);
        b.y0 = Math.min(b.y0, r.ys[0] - ry); b.y1 = Math.max(b.y1, r.ys[0] + ry);
      }
    });
    return b;
  }

  function titleOf(g) {
    var t = g.querySelector("title");
    return t ? t.textContent : "";
  }

  function isMember(name, path) {
    return name.length > path.length && name.charAt(path.length) === "." &&
      name.slice(0, path.length) === path;
  }

  function initDiagram() {
    var t = root.transform.baseVal.consolidate();
    matrix = t ? t.matrix : svg.createSVGMatrix();
    root.querySelectorAll("path, polygon, polyline, ellipse, text").forEach(function (e) {
      var r = record(e);
      if (r) { e.__archc = r; geometry.push(r); }
    });
    // Nodes and clusters are known by their <title>, the DOT name (the module path, or
    // "(output)" for the output marker), which unlike the SVG id cannot collide.
    root.querySelectorAll("g.node").forEach(function (g) {
      var name = titleOf(g);
      nodes[name] = { g: g, box: boxOf(g), name: name };
      g.setAttribute("data-node", name);
    });
    root.querySelectorAll("g.cluster").forEach(function (g) {
      var path = titleOf(g).replace(/^cluster_/, "");
      if (!moduleByPath[path]) return;
      clusters[path] = { g: g, box: boxOf(g), path: path, members: [] };
      g.setAttribute("data-block", path);
    });
    root.querySelectorAll("g.edge").forEach(function (g) {
      var ends = titleOf(g).split("->");
      if (ends.length === 2) edges.push({ g: g, src: ends[0], dst: ends[1] });
    });
    // A layer belongs to every block whose path prefixes its own (module paths nest).
    var names = Object.keys(nodes);
    names.forEach(function (name) {
      var parts = name.split(".");
      for (var i = 1; i < parts.length; i++) {
        var prefix = parts.slice(0, i).join(".");
        if (clusters[prefix]) clusters[prefix].members.push(name);
      }
    });
    // The band of a block can be squeezed only if no other layer sits beside the block in
    // it, i.e. the layers overlapping the band are exactly its members. Counted with two
    // binary searches over the layers' tops and bottoms, so large networks index quickly.
    var tops = names.map(function (n) { return nodes[n].box.y0; }).sort(function (a, b) { return a - b; });
    var bottoms = names.map(function (n) { return nodes[n].box.y1; }).sort(function (a, b) { return a - b; });
    function countBelow(sorted, v, inclusive) {
      var lo = 0, hi = sorted.length;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (inclusive ? sorted[mid] <= v : sorted[mid] < v) lo = mid + 1; else hi = mid;
      }
      return lo;
    }
    Object.keys(clusters).forEach(function (path) {
      var c = clusters[path], a = c.box.y0 + 1, b = c.box.y1 - 1;
      var overlapping = names.length - countBelow(bottoms, a, true) -
        (names.length - countBelow(tops, b, false));
      c.squash = c.box.y1 - c.box.y0 > BOX_H + 8 && overlapping === c.members.length;
    });
    placeholders = document.createElementNS("http://www.w3.org/2000/svg", "g");
    placeholders.setAttribute("class", "archc-placeholders");
    root.appendChild(placeholders);
  }

  function effective() {
    // Collapsed blocks not inside another collapsed block, top to bottom.
    return Object.keys(collapsed).filter(function (path) {
      if (!clusters[path]) return false;
      return !Object.keys(collapsed).some(function (other) {
        return other !== path && clusters[other] && isMember(path, other);
      });
    }).sort(function (a, b) { return clusters[a].box.y0 - clusters[b].box.y0; });
  }

  function mapper(bands) {
    return function (y) {
      var shift = 0;
      for (var i = 0; i < bands.length; i++) {
        var b = bands[i];
        if (y <= b.top) break;
        if (y >= b.bot) { shift += b.bot - b.top - b.h; continue; }
        return b.top - shift + (y - b.top) * b.h / (b.bot - b.top);
      }
      return y - shift;
    };
  }

  function r2(v) { return Math.round(v * 100) / 100; }

  function relayout() {
    var started = performance.now();
    var open = effective();
    var bands = [];
    open.forEach(function (path) {
      var c = clusters[path];
      if (!c.squash) return;
      var top = c.box.y0, prev = bands[bands.length - 1];
      if (prev && top < prev.bot) top = prev.bot;
      if (c.box.y1 - top > BOX_H + 8) bands.push({ top: top, bot: c.box.y1, h: BOX_H, path: path });
    });
    var f = mapper(bands);
    var first = bands.length ? bands[0].top : Infinity;
    geometry.forEach(function (r) {
      if (r.max <= first && !r.dirty) return;
      r.dirty = bands.length > 0 && r.max > first;
      if (r.parts) {
        var out = "";
        for (var i = 0; i < r.parts.length; i++) out += r.parts[i] + r2(f(r.ys[i]));
        r.e.setAttribute(r.attr, out + r.tail);
      } else {
        r.e.setAttribute(r.attr, r2(f(r.ys[0])));
      }
    });
    var hiddenBy = {};
    open.forEach(function (path) {
      clusters[path].members.forEach(function (name) { hiddenBy[name] = path; });
    });
    Object.keys(nodes).forEach(function (name) {
      nodes[name].g.classList.toggle("archc-hidden", name in hiddenBy);
    });
    edges.forEach(function (e) {
      var a = hiddenBy[e.src], b = hiddenBy[e.dst];
      e.g.classList.toggle("archc-hidden", a !== undefined && a === b);
    });
    Object.keys(clusters).forEach(function (path) {
      var hide = open.some(function (p) { return p === path || isMember(path, p); });
      clusters[path].g.classList.toggle("archc-hidden", hide);
    });
    placeholders.textContent = "";
    open.forEach(function (path) {
      var c = clusters[path], m = moduleByPath[path];
      var squashed = bands.some(function (b) { return b.path === path; });
      var y0 = f(c.box.y0), y1 = squashed ? y0 + BOX_H : f(c.box.y1);
      var g = document.createElementNS("http://www.w3.org/2000/svg", "g");
      g.setAttribute("class", "archc-collapsed");
      g.setAttribute("data-block", path);
      // At least as wide as its three lines of text; centred on the block it stands for.
      var cx = (c.box.x0 + c.box.x1) / 2, w = Math.max(c.box.x1 - c.box.x0, BOX_W);
      var rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      rect.setAttribute("x", r2(cx - w / 2)); rect.setAttribute("y", r2(y0));
      rect.setAttribute("width", r2(w)); rect.setAttribute("height", r2(y1 - y0));
      rect.setAttribute("rx", 4);
      g.appendChild(rect);
      var lines = [
        [path + (m.block ? " (" + m.block + ")" : ""), "head"],
        [m.layers + " layers, " + m["in"] + " \u2192 " + m.out, ""],
        [si(m.params) + " params, " + si(m.macs) + " MACs", ""],
      ];
      lines.forEach(function (line, i) {
        var text = document.createElementNS("http://www.w3.org/2000/svg", "text");
        text.setAttribute("x", r2(cx));
        text.setAttribute("y", r2(y0 + 14 + 13 * i));
        text.setAttribute("text-anchor", "middle");
        if (line[1]) text.setAttribute("class", line[1]);
        text.textContent = line[0];
        g.appendChild(text);
      });
      placeholders.appendChild(g);
    });
    timings.relayout_ms = performance.now() - started;
    save();
  }

  function setCollapsed(path, on) {
    if (!clusters[path]) return false;
    if (on) collapsed[path] = true; else delete collapsed[path];
    relayout();
    return true;
  }

  function setAll(on) {
    collapsed = {};
    if (on) {
      var paths = Object.keys(clusters);
      // Collapse the blocks themselves, not the Sequentials that hold them, so a stage
      // becomes a column of named boxes rather than one box; a network without blocks
      // (VGG's `features`) folds its top-level Sequentials instead.
      var blocks = paths.filter(function (p) { return moduleByPath[p].block; });
      (blocks.length ? blocks : paths.filter(function (p) { return moduleByPath[p].depth === 0; }))
        .forEach(function (p) { collapsed[p] = true; });
    }
    relayout();
  }

  // --- pan and zoom ---------------------------------------------------------------------
  function size() { return { w: canvas.clientWidth || 1, h: canvas.clientHeight || 1 }; }

  // While the user drags or scrolls, the drawing is moved by a CSS transform of the SVG
  // element, which the compositor applies without redrawing a large diagram; the viewBox
  // (a full redraw) follows once the pointer rests, or every COMMIT_MS during long moves.
  var committed = null;
  var commitTimer = null;
  var drawnAt = 0;
  var COMMIT_MS = 150;

  function applyView(live) {
    var now = performance.now();
    if (live && committed) {
      if (commitTimer === null) drawnAt = now; // a gesture starts
      if (now - drawnAt < 4 * COMMIT_MS) {
        var k = view.s / committed.s;
        svg.style.transform = "translate(" + (committed.x - view.x) * view.s + "px," +
          (committed.y - view.y) * view.s + "px) scale(" + k + ")";
        clearTimeout(commitTimer);
        commitTimer = setTimeout(function () { applyView(false); }, COMMIT_MS);
        save();
        return;
      }
    }
    clearTimeout(commitTimer);
    commitTimer = live ? setTimeout(function () { applyView(false); }, COMMIT_MS) : null;
    drawnAt = now;
    var sz = size();
    svg.setAttribute("viewBox", [view.x, view.y, sz.w / view.s, sz.h / view.s].join(" "));
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    svg.style.transform = "";
    committed = { x: view.x, y: view.y, s: view.s };
    save();
  }

  function contentBox() {
    var b = root.getBBox();
    return { x: b.x * matrix.a + matrix.e, y: b.y * matrix.d + matrix.f,
             w: b.width * matrix.a, h: b.height * matrix.d };
  }

  function fit(widthOnly) {
    var b = contentBox(), sz = size();
    var s = widthOnly ? Math.min(sz.w / b.w, 1.5) : Math.min(sz.w / b.w, sz.h / b.h, 1.5);
    view.s = s;
    view.x = b.x - (sz.w / s - b.w) / 2;
    view.y = widthOnly ? b.y : b.y - (sz.h / s - b.h) / 2;
    applyView();
  }

  function zoomAt(factor, px, py, live) {
    var s = Math.max(0.01, Math.min(8, view.s * factor));
    var ux = view.x + px / view.s, uy = view.y + py / view.s;
    view.s = s;
    view.x = ux - px / s;
    view.y = uy - py / s;
    applyView(live);
  }

  function centerOn(g) {
    var b = g.getBBox(), sz = size();
    var cx = (b.x + b.width / 2) * matrix.a + matrix.e;
    var cy = (b.y + b.height / 2) * matrix.d + matrix.f;
    if (view.s < 0.6) view.s = 1;
    view.x = cx - sz.w / 2 / view.s;
    view.y = cy - sz.h / 2 / view.s;
    applyView();
  }

  var drag = null;
  var dragged = false;

  function bindCanvas() {
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = canvas.getBoundingClientRect();
      var scale = e.deltaMode === 1 ? 16 : 1;
      if (e.ctrlKey || e.metaKey) {
        zoomAt(Math.exp(-e.deltaY * scale * 0.002), e.clientX - r.left, e.clientY - r.top, true);
      } else {
        view.x += e.deltaX * scale / view.s;
        view.y += e.deltaY * scale / view.s;
        applyView(true);
      }
    }, { passive: false });
    canvas.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, id: e.pointerId };
      dragged = false;
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!dragged && Math.abs(dx) + Math.abs(dy) > 4) {
        dragged = true;
        canvas.classList.add("dragging");
        canvas.setPointerCapture(drag.id);
      }
      if (dragged) {
        view.x = drag.vx - dx / view.s;
        view.y = drag.vy - dy / view.s;
        applyView(true);
      }
    });
    function end() { drag = null; canvas.classList.remove("dragging"); }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    var hovered = null;
    canvas.addEventListener("mouseover", function (e) {
      var target = e.target.closest("g.node, g.cluster, g.archc-collapsed");
      if (target === hovered) return;
      if (hovered) hovered.classList.remove("hover");
      hovered = target;
      if (!target) { restorePanel(); return; }
      target.classList.add("hover");
      if (target.classList.contains("node")) showNode(target.getAttribute("data-node"));
      else showModule(target.getAttribute("data-block"));
    });
    canvas.addEventListener("mouseleave", function () {
      if (hovered) hovered.classList.remove("hover");
      hovered = null;
      restorePanel();
    });
    canvas.addEventListener("click", function (e) {
      if (dragged) { dragged = false; return; }
      var target = e.target.closest("g.node, g.cluster, g.archc-collapsed");
      if (!target) { pinned = null; markSelected(null); restorePanel(); return; }
      if (target.classList.contains("node")) {
        select(target.getAttribute("data-node"), false);
      } else if (target.classList.contains("archc-collapsed")) {
        setCollapsed(target.getAttribute("data-block"), false);
        hovered = null;
      } else {
        setCollapsed(target.getAttribute("data-block"), true);
        hovered = null;
      }
    });
    window.addEventListener("resize", function () { applyView(false); });
    document.addEventListener("keydown", function (e) {
      if (e.target.closest && e.target.closest("input, select, textarea")) return;
      var sz = size();
      if (e.key === "+" || e.key === "=") zoomAt(1.25, sz.w / 2, sz.h / 2);
      else if (e.key === "-") zoomAt(0.8, sz.w / 2, sz.h / 2);
      else if (e.key === "0") fit(false);
      else if (e.key === "w") fit(true);
    });
    document.querySelectorAll(".toolbar button").forEach(function (b) {
      b.addEventListener("click", function () {
        var sz = size(), act = b.getAttribute("data-act");
        if (act === "zoom-in") zoomAt(1.25, sz.w / 2, sz.h / 2);
        else if (act === "zoom-out") zoomAt(0.8, sz.w / 2, sz.h / 2);
        else if (act === "fit") fit(false);
        else if (act === "width") fit(true);
        else if (act === "collapse-all") setAll(true);
        else if (act === "expand-all") setAll(false);
      });
    });
  }

  // --- selection ------------------------------------------------------------------------
  function markSelected(name) {
    document.querySelectorAll(".selected").forEach(function (e) { e.classList.remove("selected"); });
    if (!name) return;
    if (nodes[name]) nodes[name].g.classList.add("selected");
    if (rowByName[name]) rowByName[name].classList.add("selected");
  }

  function select(name, andReveal) {
    if (!nodeByName[name]) return;
    pinned = { type: "node", key: name };
    markSelected(name);
    showNode(name);
    if (andReveal) reveal(name);
    save();
  }

  function reveal(name) {
    // Expand the blocks that hide the layer, then centre the view on it.
    if (!nodes[name]) return;
    var changed = false;
    Object.keys(collapsed).forEach(function (path) {
      if (isMember(name, path)) { delete collapsed[path]; changed = true; }
    });
    if (changed) relayout();
    centerOn(nodes[name].g);
  }

  // --- state kept across reloads (serve) and revisits ------------------------------------
  var saving = null;
  var ready = false;
  function save() {
    if (!ready || saving) return;
    saving = setTimeout(write, 150);
  }

  function write() {
    clearTimeout(saving);
    saving = null;
    try {
      sessionStorage.setItem(storeKey, JSON.stringify({
        view: view, collapsed: Object.keys(collapsed), pinned: pinned,
      }));
    } catch (err) { /* storage may be unavailable for file:// pages; not needed */ }
  }

  // A change made in the last moments before the page is left (a reload, another report)
  // is written at once; otherwise its pending save would be lost, and the next visit would
  // restore the state from before it.
  window.addEventListener("pagehide", function () { if (saving) write(); });

  function restore() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(storeKey) || "null");
      if (!saved) return false;
      (saved.collapsed || []).forEach(function (p) { if (clusters[p]) collapsed[p] = true; });
      if (saved.pinned && nodeByName[saved.pinned.key]) {
        pinned = saved.pinned;
        markSelected(pinned.key);
      }
      if (saved.view && isFinite(saved.view.s)) view = saved.view;
      return true;
    } catch (err) {
      return false;
    }
  }

  // --- live mode (archc serve) ------------------------------------------------------------
  function startLive() {
    var controls = document.getElementById("archc-live-controls");
    var status = el("span", { "class": "status" }, "live");
    var select = el("select", { id: "archc-variant", title: "variant" });
    controls.appendChild(el("label", { "for": "archc-variant" }, "variant"));
    controls.appendChild(select);
    controls.appendChild(status);
    function fillVariants(names) {
      if (select.options.length === names.length) return;
      select.textContent = "";
      names.forEach(function (name) {
        var o = el("option", { value: name }, name);
        if (name === live.variant) o.selected = true;
        select.appendChild(o);
      });
    }
    fillVariants(live.variants || []);
    select.addEventListener("change", function () {
      location.search = "?variant=" + encodeURIComponent(select.value);
    });
    var diag = document.getElementById("archc-diagnostics");
    function showErrors(state) {
      diag.textContent = "";
      var count = state.diagnostics.filter(function (d) { return d.severity === "error"; }).length;
      diag.appendChild(el("h2", null, (count || "The") + " error" + (count === 1 ? "" : "s") +
        " in " + state.spec + (live.has_graph ? ": the diagram below is the last good one" : "")));
      var pre = el("pre");
      state.diagnostics.forEach(function (d) {
        // As `archc check` prints it, with the spec line and a caret under the column
        // between the message and its notes.
        var lines = d.text.split("\n");
        pre.appendChild(el("span", { "class": "diagnostic " + d.severity }, lines[0] + "\n"));
        if (d.source) {
          pre.appendChild(el("span", { "class": "source" },
            String(d.line).padStart(5) + " | " + d.source + "\n" +
            "      | " + " ".repeat(Math.max(0, d.col - 1)) + "^\n"));
        }
        if (lines.length > 1) pre.appendChild(el("span", null, lines.slice(1).join("\n") + "\n"));
      });
      pre.appendChild(el("span", null, state.count_line));
      diag.appendChild(pre);
      diag.hidden = false;
      document.body.classList.add("stale");
      status.textContent = "spec has errors";
      status.className = "status bad";
    }
    function poll() {
      var url = "api/state?variant=" + encodeURIComponent(live.variant);
      fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (state) {
        if (state.variants) fillVariants(state.variants);
        if (state.ok && state.version !== live.version) {
          save();
          location.reload();
          return;
        }
        if (state.ok) {
          diag.hidden = true;
          document.body.classList.remove("stale");
          status.textContent = "live: reloads when " + state.spec + " is saved";
          status.className = "status";
        } else {
          showErrors(state);
        }
        setTimeout(poll, 400);
      }).catch(function () {
        status.textContent = "server stopped";
        status.className = "status bad";
        setTimeout(poll, 2000);
      });
    }
    poll();
  }

  // --- start ------------------------------------------------------------------------------
  var restored = false;
  if (svg && root) {
    var initStart = performance.now();
    initDiagram();
    timings.index_ms = performance.now() - initStart;
    if (window.performance && performance.mark) performance.mark("archc-diagram-indexed");
    restored = restore();
    bindCanvas();
    if (Object.keys(collapsed).length) relayout();
    if (restored) applyView(); else fit(true);
  } else {
    restore();
  }
  restorePanel();
  if (live) startLive();
  ready = true;
  window.archc = {
    collapse: function (path) { return setCollapsed(path, true); },
    expand: function (path) { return setCollapsed(path, false); },
    collapseAll: function () { setAll(true); },
    expandAll: function () { setAll(false); },
    select: function (name) { select(name, true); },
    reveal: function (name) { reveal(name); },
    timings: timings,
    view: function () { return { x: view.x, y: view.y, s: view.s }; },
    zoom: function (f) { var sz = size(); zoomAt(f, sz.w / 2, sz.h / 2); },
    blocks: function () { return Object.keys(clusters); },
  };
  if (window.performance && performance.mark) {
    performance.mark("archc-ready");
    // The frame after next has the diagram on screen: the honest "first paint" of it.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { performance.mark("archc-painted"); });
    });
  }
})();
