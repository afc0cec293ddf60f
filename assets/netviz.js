/* k8s-netviz browser side: the packet player, keys, presentation mode and the URL.
 * Everything lives in one namespace, window.dash_clientside.netviz. The player plays Trace.to_dict() as the
 * server sent it (with one point per hop); it animates with requestAnimationFrame, no server round trip per
 * frame. */
(function () {
  "use strict";

  var SEGMENT_MS = 1100;      // one hop at 1x: dwell, then travel
  var DWELL = 0.35;           // share of a segment spent resting on the hop
  var COLORS = {
    request: "#2563eb", requestNat: "#7c3aed", reply: "#16a34a", replyNat: "#0f766e", dead: "#dc2626",
    highlight: "#f59e0b", envelope: "rgba(234,88,12,0.30)"
  };
  var ACTION_LABELS = {
    dnat: "DNAT", snat: "SNAT", masquerade: "MASQUERADE", "un-dnat": "un-DNAT", "un-snat": "un-SNAT",
    redirect: "REDIRECT", resolve: "DNS"
  };  /* rule names; the worded labels (encapsulate, decapsulate, proxy, reply) come in the page's language with
         the playback data (webapp/figures/player.py) */

  var player = {
    frames: [], index: 0, t: 0, playing: false, speed: 1, lastTs: 0, raf: 0, initialUsed: false, flowKey: "",
    labels: {}, pb: null, lastInitial: null,
    /* Hooks for the lesson player (netviz-lesson.js): called after a hop is shown / a trace is loaded; `stopAt(i)`
       says whether playback pauses on arriving at frame i. */
    onArrive: [], onLoad: [], stopAt: null
  };

  /* Component ids come from the server's table (layout.Id, in the page's data-netviz-ids attribute), never
   * spelled here: ID.DIAGRAM, ID.STEP, ID.PLAY … */
  var ID = null;
  function ids() {
    if (!ID) {
      var holder = document.querySelector("[data-netviz-ids]");
      if (!holder) { return {}; }
      ID = JSON.parse(holder.getAttribute("data-netviz-ids"));
    }
    return ID;
  }

  function graphDiv() {
    var outer = document.getElementById(ids().DIAGRAM);
    return outer ? outer.querySelector(".js-plotly-plot") : null;
  }

  function traceIndex(gd, name) {
    if (!gd || !gd.data) { return -1; }
    for (var i = gd.data.length - 1; i >= 0; i--) {
      if (gd.data[i].name === name) { return i; }
    }
    return -1;
  }

  function buildFrames(pb) {
    var frames = [];
    var trace = pb.trace || {};
    var notes = pb.notes || {};
    function add(hops, points, phase, badges) {
      hops.forEach(function (hop, i) {
        var p = hop.packet || {};
        var point = points[i] || [null, null];
        var badge = badges[i] || {};
        /* Translated: some hop of this packet's own exchange rewrote an address (webapp/lessons/player.py); a DNS
           answer or a new connection is a new packet, never "translated". */
        frames.push({
          x: point[0], y: point[1], phase: phase, ref: (phase === "request" ? "q" : "r") + i, hop: hop, index: i,
          outer: !!p.outer, nat: !!badge.translated, rewrites: !!badge.nat, dead: false
        });
      });
    }
    add(trace.hops || [], pb.points || [], "request", notes.hops || []);
    add(trace.reply || [], pb.reply_points || [], "reply", notes.reply || []);
    if (trace.disposition && trace.disposition !== "delivered") {
      var last = -1;
      frames.forEach(function (f, i) { if (f.phase === "request") { last = i; } });
      if (last >= 0) {
        frames[last].dead = true;
        frames[last].reason = trace.reason || trace.disposition;
        frames = frames.slice(0, last + 1);
      }
    }
    return frames;
  }

  /* The dead packet's label: the reason's first clause, cut at a word (the verdict line has the full reason). */
  var DEATH_LABEL_MAX = 50;
  function deathLabel(reason) {
    var words = String(reason);
    var colon = words.search(/: |：/);  /* English or Chinese (full-width) colon */
    if (colon > 0 && colon <= DEATH_LABEL_MAX) { words = words.slice(0, colon); }
    if (words.length > DEATH_LABEL_MAX) {
      var cut = words.lastIndexOf(" ", DEATH_LABEL_MAX - 1);
      words = words.slice(0, cut > DEATH_LABEL_MAX / 2 ? cut : DEATH_LABEL_MAX - 1) + "…";
    }
    return "✖ " + words;
  }

  /* Labels grow away from the nearer edge of the plot, so a long one is never cut off by it. */
  function labelPosition(gd, x) {
    var r = gd._fullLayout && gd._fullLayout.xaxis ? gd._fullLayout.xaxis.range : null;
    if (!r || x === null || x === undefined) { return "top center"; }
    var share = (x - r[0]) / (r[1] - r[0]);
    return share < 0.3 ? "top right" : share > 0.7 ? "top left" : "top center";
  }

  function frameStyle(f) {
    var color = f.dead ? COLORS.dead : f.phase === "reply" ? (f.nat ? COLORS.replyNat : COLORS.reply)
      : (f.nat ? COLORS.requestNat : COLORS.request);
    /* The NAT tags (DNAT, SNAT …) only on a hop that rewrote an address or a port. */
    var label = player.labels[f.hop.action] || (f.rewrites ? ACTION_LABELS[f.hop.action] : "") || "";
    if (f.dead) { label = deathLabel(f.reason); }
    else if (f.phase === "reply" && f.ref === "r0") { label = player.labels.reply || ""; }
    /* At projector size a tag beside the marker lies over the box it stands in; the header strip under the diagram
       says what the hop did (NAT before → after), the purple diamond that the packet is translated. */
    if (presenting() && !f.dead) { label = ""; }
    // No label is a space, never "": once plotly has drawn an empty text it sometimes skips drawing the next one.
    return { color: color, symbol: f.dead ? "x" : f.nat ? "diamond" : "circle", label: label ? "<b>" + label + "</b>" : " " };
  }

  function groupOf(gd, index) {
    var layer = gd.querySelector(".scatterlayer");
    return layer && index >= 0 ? layer.children[index] : null;
  }

  function clearShift(gd) {
    ["packet", "envelope"].forEach(function (name) {
      var g = groupOf(gd, traceIndex(gd, name));
      if (g) { g.removeAttribute("transform"); }
    });
  }

  /* Marker sizes in px (highlight frame, tunnel envelope, packet): larger in presentation mode, for the back row. */
  var SIZES = { normal: [34, 30, 18], presenting: [52, 46, 30] };

  function presenting() { return document.body.classList.contains("presenting"); }

  /* The path walked so far, up to frame i: the request's hops, then the reply's (a gap between them). */
  function trail(i) {
    var xs = [], ys = [];
    for (var j = 0; j <= i && j < player.frames.length; j++) {
      var f = player.frames[j];
      if (j > 0 && f.phase !== player.frames[j - 1].phase) { xs.push(null); ys.push(null); }
      if (f.x !== null && f.x !== undefined) { xs.push(f.x); ys.push(f.y); }
    }
    return [xs, ys];
  }

  /* Plotly.restyle of several traces at once, from {trace index: {attribute: value}}: one call is one redraw (x, y
     and font sizes are `calc` attributes, so each restyle redraws the whole figure). A trace takes the n-th value of
     each attribute's array; undefined leaves that attribute of that trace as it is. */
  function restyleTraces(gd, changes) {
    var indices = Object.keys(changes).map(Number), update = {};
    if (!indices.length) { return; }
    indices.forEach(function (index, n) {
      Object.keys(changes[index]).forEach(function (name) {
        if (!update[name]) { update[name] = indices.map(function () { return undefined; }); }
        update[name][n] = changes[index][name];
      });
    });
    window.Plotly.restyle(gd, update, indices);
  }

  /* The labels' sizes and visibility (fontPlan) as restyleTraces changes, added to `changes`. */
  function fontChanges(gd, changes) {
    var plan = fontPlan(gd);
    function at(i) { return (changes[i] = changes[i] || {}); }
    plan.indices.forEach(function (i, n) { at(i)["textfont.size"] = plan.sizes[n]; });
    plan.hide.forEach(function (i) { at(i).opacity = 0; });
    plan.show.forEach(function (i) { at(i).opacity = 1; });
    return changes;
  }

  function commit(i) {
    var gd = graphDiv();
    var f = player.frames[i];
    if (!gd || !f || !window.Plotly) { return; }
    var h = traceIndex(gd, "highlight"), e = traceIndex(gd, "envelope"), k = traceIndex(gd, "packet");
    if (h < 0 || e < 0 || k < 0) { return; }
    clearShift(gd);
    var style = frameStyle(f);
    var ex = f.outer ? f.x : null, ey = f.outer ? f.y : null;
    var sizes = presenting() ? SIZES.presenting : SIZES.normal;
    var changes = {};
    changes[h] = { x: [f.x], y: [f.y], "marker.color": COLORS.highlight, "marker.symbol": "square-open",
                   "marker.size": sizes[0], text: [""], "textfont.color": "#000", "textfont.size": 14,
                   textposition: "top center" };
    changes[e] = { x: [ex], y: [ey], "marker.color": COLORS.envelope, "marker.symbol": "square",
                   "marker.size": sizes[1], text: [""], "textfont.color": "#000", "textfont.size": 14,
                   textposition: "top center" };
    changes[k] = { x: [f.x], y: [f.y], "marker.color": style.color, "marker.symbol": style.symbol,
                   "marker.size": sizes[2], text: [style.label], "textfont.color": style.color,
                   "textfont.size": presenting() ? 24 : 14, textposition: labelPosition(gd, f.x) };
    var t = traceIndex(gd, "trail");
    if (t >= 0) {
      var path = trail(i);
      changes[t] = { x: path[0], y: path[1], "line.width": presenting() ? 8 : 5,
                     "line.color": f.phase === "reply" ? "rgba(22,163,74,0.45)" : "rgba(37,99,235,0.45)" };
    }
    /* The markers, the trail and the labels' sizes in one redraw; the markers not again when this figure shows
       exactly them already. */
    var signature = JSON.stringify(changes), done = gd.__netvizCommitted;
    if (done && done.trace === gd.data[k] && done.signature === signature) { changes = {}; }
    restyleTraces(gd, fontChanges(gd, changes));
    gd.__netvizCommitted = { trace: gd.data[k], signature: signature };
  }

  /* No trace: no packet, no envelope, no highlight frame (a stale one would sit on whatever is drawn there now). */
  function clearMarker() {
    var gd = graphDiv();
    if (!gd || !window.Plotly) { return; }
    var h = traceIndex(gd, "highlight"), e = traceIndex(gd, "envelope"), k = traceIndex(gd, "packet");
    if (h < 0 || e < 0 || k < 0) { return; }
    clearShift(gd);
    gd.__netvizCommitted = null;
    var t = traceIndex(gd, "trail"), traces = t >= 0 ? [h, e, k, t] : [h, e, k];
    function empty(i) { return !gd.data[i].x || gd.data[i].x.every(function (v) { return v === null || v === undefined; }); }
    if (traces.every(empty)) { return; }  /* nothing drawn (a new figure without a trace): no redraw */
    var none = traces.map(function () { return [null]; });
    window.Plotly.restyle(gd, { x: none, y: none, text: [[""], [""], [" "], undefined] }, traces);  /* one redraw */
  }

  function shift(from, to, s) {
    var gd = graphDiv();
    if (!gd || !gd._fullLayout || !from || !to) { return; }
    var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    var dx = (xa.l2p(to.x) - xa.l2p(from.x)) * s, dy = (ya.l2p(to.y) - ya.l2p(from.y)) * s;
    var names = from.outer ? ["packet", "envelope"] : ["packet"];
    names.forEach(function (name) {
      var g = groupOf(gd, traceIndex(gd, name));
      if (g) { g.setAttribute("transform", "translate(" + dx.toFixed(2) + "," + dy.toFixed(2) + ")"); }
    });
  }

  function markCurrent(ref) {
    document.querySelectorAll("[data-hop].current").forEach(function (el) { el.classList.remove("current"); });
    document.querySelectorAll('[data-hop="' + ref + '"]').forEach(function (el) {
      el.classList.add("current");
      if (el.tagName === "BUTTON" && el.scrollIntoView) { el.scrollIntoView({ block: "nearest" }); }
    });
  }

  function setPlayButton() {
    var b = document.getElementById(ids().PLAY);
    if (b) { b.textContent = player.playing ? b.getAttribute("data-pause") : b.getAttribute("data-play"); }
    document.body.classList.toggle("playing", player.playing);
  }

  function arrive(i) {
    if (!player.frames.length) { return; }
    i = Math.max(0, Math.min(i, player.frames.length - 1));
    player.index = i;
    player.t = 0;
    commit(i);
    markCurrent(player.frames[i].ref);
    if (window.dash_clientside && window.dash_clientside.set_props && ids().STEP) {
      window.dash_clientside.set_props(ids().STEP, { data: i });
    }
    player.onArrive.forEach(function (hook) { hook(i, player.frames[i]); });
  }

  function ease(s) { return s < 0.5 ? 2 * s * s : 1 - Math.pow(-2 * s + 2, 2) / 2; }

  function tick(ts) {
    if (!player.playing) { return; }
    if (!player.lastTs) { player.lastTs = ts; }
    var dt = Math.min(ts - player.lastTs, 100);
    player.lastTs = ts;
    player.t += dt * player.speed / SEGMENT_MS;
    var here = player.frames[player.index], next = player.frames[player.index + 1];
    if (!next || here.dead) { pause(); return; }
    if (player.t >= 1) {
      arrive(player.index + 1);
      if (player.stopAt && player.stopAt(player.index)) { pause(); return; }
      if (!player.playing) { return; }  /* a hook paused (a quiz question) */
    } else if (player.t > DWELL) {
      shift(here, next, ease((player.t - DWELL) / (1 - DWELL)));
    }
    player.raf = window.requestAnimationFrame(tick);
  }

  function play() {
    if (!player.frames.length) { return; }
    if (player.index >= player.frames.length - 1 || player.frames[player.index].dead) {
      arrive(0);
      if (player.stopAt && player.stopAt(0)) { return; }
    }
    player.playing = true;
    player.lastTs = 0;
    setPlayButton();
    player.raf = window.requestAnimationFrame(tick);
  }

  function pause() {
    player.playing = false;
    if (player.raf) { window.cancelAnimationFrame(player.raf); }
    var gd = graphDiv();
    if (gd) { clearShift(gd); }
    setPlayButton();
  }

  function step(delta) { pause(); arrive(player.index + delta); }

  var baseFont = new WeakMap();
  var FONT_MIN = 0.72, FONT_MAX = 2.0;

  /* The figure's label sizes are in pixels, chosen for a design size (layout.meta: `font_scale` at
   * `pixels_per_unit`). Rescale them to the plot's real pixels per diagram unit, so labels keep fitting their boxes
   * and grow with the plot: on a big screen, in presentation mode, when zoomed in. */
  function fontPlan(gd) {
    var plan = { indices: [], sizes: [], hide: [], show: [] };
    if (!gd || !gd.data || !gd.layout || !gd.layout.meta || !gd._fullLayout || !window.Plotly) { return plan; }
    var meta = gd.layout.meta, full = gd._fullLayout, size = full._size;
    var xr = full.xaxis.range, yr = full.yaxis.range;
    if (!size || !xr || !yr || !meta.font_scale || !meta.pixels_per_unit) { return plan; }
    var ppu = Math.min(size.w / Math.abs(xr[1] - xr[0]), size.h / Math.abs(yr[1] - yr[0]));
    var scale = Math.max(FONT_MIN, Math.min(FONT_MAX, ppu / meta.pixels_per_unit));
    var factor = scale / meta.font_scale;
    var least = meta.min_label_px || 0;
    gd.data.forEach(function (trace, i) {
      if (trace.mode !== "text" || !trace.textfont) { return; }
      if (!baseFont.has(trace)) { baseFont.set(trace, trace.textfont.size); }
      var wanted = Math.round(baseFont.get(trace) * factor * 10) / 10;
      if (Math.abs(wanted - trace.textfont.size) >= 0.3) { plan.indices.push(i); plan.sizes.push(wanted); }
      /* An overview draws no label under its least size (the box's tooltip says it); zooming in brings it. The
         trace stays (transparent, not invisible): the player and the tests find traces by their drawn order. */
      var hidden = trace.opacity === 0;
      if (least && wanted < least && !hidden) { plan.hide.push(i); }
      else if ((!least || wanted >= least) && hidden) { plan.show.push(i); }
    });
    return plan;
  }

  function fitFonts(gd) { if (window.Plotly) { restyleTraces(gd, fontChanges(gd, {})); } }

  /* Presentation mode on (true), off (false) or toggled (undefined); the URL says `present=1` while it is on. */
  function setPresent(on) {
    var want = on === undefined ? !presenting() : !!on;
    if (want === presenting()) { return; }
    document.body.classList.toggle("presenting", want);
    writeUrl();
    window.setTimeout(function () {
      var gd = graphDiv();
      if (gd && window.Plotly) {
        window.Plotly.Plots.resize(gd);
        if (player.frames.length) { commit(player.index); } else { fitFonts(gd); }
      }
    }, 60);
  }
  function togglePresent() { setPresent(); }

  /* After every draw (a new figure, a zoom, a resize): the packet back where the player is, the labels fitted. Not on
     the greyed old diagram while a new cluster loads (`afterDraw` runs once the new one is drawn), and not before a
     new trace's frames are shown (`tryReady` commits them, with the labels, in one redraw). */
  /* A figure from the diagram callback names its drawing (`meta.draw`, webapp/app/callbacks.py); the trace the
     player holds is for that drawing when its playback says so. A new drawing whose trace has not reached the player
     yet (`load` runs after the figure is drawn) waits for it: committing the old trace's frames, or fitting labels
     that `load`'s commit fits anyway, would cost a redraw for nothing. */
  function playerOwns(gd) {
    var meta = (gd.layout && gd.layout.meta) || {};
    return !meta.draw || !!(player.pb && player.pb.draw === meta.draw);
  }
  function afterDraw(gd) {
    if (isStale()) { return; }
    if (ready) { tryReady(); return; }
    var meta = (gd.layout && gd.layout.meta) || {};
    if (meta.draw && !playerOwns(gd)) {  /* a new drawing, drawn before its trace reached the player (`load`) */
      if (!meta.traced) { fitFonts(gd); }  /* none comes: fit the labels now (`load(null)` leaves them) */
      return;  /* else `load` shows its first hop and fits the labels, in one redraw */
    }
    var f = player.frames[player.index], k = traceIndex(gd, "packet");
    if (f && playerOwns(gd) && k >= 0 && gd.data[k].x && gd.data[k].x[0] !== f.x) { commit(player.index); } else { fitFonts(gd); }
  }
  function bindGraph(gd) {
    if (!gd || gd.__netvizBound || !gd.on) { return; }
    gd.__netvizBound = true;
    gd.on("plotly_afterplot", function () {
      drawnCheck();
      window.setTimeout(function () { afterDraw(gd); }, 0);  /* after the draw callback's other outputs (`load`) */
    });
    fitFonts(gd);
  }
  /* A diagram without a trace (a big cluster's first overview) never goes through `load`: bind it anyway. */
  window.setInterval(function () { var gd = graphDiv(); if (gd && gd._fullLayout) { bindGraph(gd); } }, 300);

  /* The trace `load` waits to show: its trace count and what to do once the graph has drawn it. */
  var ready = null;
  function tryReady() {
    var gd = graphDiv();
    if (!ready || !gd || !gd.data || gd.data.length !== ready.count || traceIndex(gd, "packet") < 0 || !gd._fullLayout) {
      return false;
    }
    var meta = gd.layout && gd.layout.meta;
    if (ready.draw && meta && meta.draw && meta.draw !== ready.draw) { return false; }  /* not its drawing yet */
    var done = ready.done;
    ready = null;
    bindGraph(gd);
    done();  /* arrive → commit, which fits the labels too */
    return true;
  }
  function whenGraphReady(count, draw, done) {
    ready = { count: count, draw: draw, done: done };
    (function poll(tries) {
      if (ready && !tryReady() && tries < 200) { window.setTimeout(function () { poll(tries + 1); }, 50); }
    })(0);
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
    if (ev.key === "ArrowRight") { ev.preventDefault(); step(1); }
    else if (ev.key === "ArrowLeft") { ev.preventDefault(); step(-1); }
    else if (ev.key === " " || ev.key === "Spacebar") { ev.preventDefault(); if (player.playing) { pause(); } else { play(); } }
    else if (ev.key === "p" || ev.key === "P") { ev.preventDefault(); togglePresent(); }
    else if (ev.key === "Escape" || ev.key === "Esc") { if (presenting()) { ev.preventDefault(); setPresent(false); } }
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button") : null;
    if (!button) { return; }
    var hop = button.getAttribute("data-hop");
    if (hop) {
      pause();
      for (var i = 0; i < player.frames.length; i++) {
        if (player.frames[i].ref === hop) { arrive(i); break; }
      }
      button.blur();
      return;
    }
    var id = ids();
    if (button.id === id.PLAY) { if (player.playing) { pause(); } else { play(); } }
    else if (button.id === id.BACK) { step(-1); }
    else if (button.id === id.FORWARD) { step(1); }
    else if (button.id === id.RESTART) { pause(); arrive(0); play(); }
    else if (button.id === id.PRESENT) { togglePresent(); }
    else { return; }
    button.blur();
  });

  /* Uploads take the fast path (webapp/app/upload.py): the chosen files are posted as multipart/form-data, never
   * read into a base64 data URL for a Dash callback. A file over the server's limit is refused here with a message
   * (which file, its size, the limit and how to raise it; the templates and limits come from the page, see
   * layout.py), as is a set of files over the request limit. The cluster on screen stays until the new one is drawn,
   * greyed meanwhile; the progress line follows the upload, then the server's stages, then the drawing. */
  function formatMb(bytes) {
    var mb = bytes / 1e6;
    return mb > 0 && mb < 0.01 ? String(Number(mb.toPrecision(3))) : mb.toFixed(2).replace(/\.?0+$/, "");
  }

  function html(type, props) { return { type: type, namespace: "dash_html_components", props: props }; }

  function showRefusal(limits, messages) {
    if (!window.dash_clientside || !window.dash_clientside.set_props) { return; }
    var items = messages.map(function (m) { return html("Li", { children: m, className: "problem error" }); });
    window.dash_clientside.set_props(ids().UPLOAD_STATUS, { children: [
      html("Ul", { children: items, className: "problems too-big" }),
      html("Div", { children: limits.getAttribute("data-kept"), className: "kept" })
    ] });
  }

  function refusals(files, limits) {
    var max = Number(limits.getAttribute("data-max-bytes")), total = 0, messages = [];
    files.forEach(function (file) {
      total += file.size;
      if (max > 0 && file.size > max) {
        messages.push(limits.getAttribute("data-too-big").replace("{file}", file.name)
          .replace("{size}", formatMb(file.size)).replace("{limit}", limits.getAttribute("data-limit-mb")));
      }
    });
    var request = Number(limits.getAttribute("data-request-bytes"));
    if (!messages.length && request > 0 && total > request) {
      messages.push(limits.getAttribute("data-request-too-big").replace("{size}", formatMb(total))
        .replace("{limit}", limits.getAttribute("data-request-mb")));
    }
    return messages;
  }

  /* What the page's tests and benchmarks read: the stages seen, and the time from the files chosen to the new
     cluster's diagram drawn. */
  var upload = { pending: null, stages: [], at: {}, started: 0, drawnMs: null, key: null, error: null, timer: 0,
                 awaiting: null };
  window.netvizUpload = upload;

  function progressLine(limits, stage, fraction, fields) {
    var box = document.getElementById(ids().UPLOAD_PROGRESS);
    if (!box) { return; }
    var bar = box.querySelector("progress"), label = box.querySelector(".stage");
    var template = limits.getAttribute("data-stage-" + stage) || "";
    Object.keys(fields || {}).forEach(function (k) { template = template.replace("{" + k + "}", fields[k]); });
    box.hidden = false;
    box.setAttribute("data-stage", stage);
    if (bar) { bar.value = Math.round(Math.max(0, Math.min(1, fraction)) * 100); }
    if (label) { label.textContent = template; }
    if (upload.stages[upload.stages.length - 1] !== stage) {
      upload.stages.push(stage);
      upload.at[stage] = Math.round(performance.now() - upload.started);  /* ms from the files chosen */
    }
  }

  function frame() { var d = document.getElementById(ids().DIAGRAM); return d ? d.closest(".diagram-frame") : null; }
  function isStale() { var f = frame(); return !!f && f.classList.contains("stale"); }

  function setStale(on, limits) {
    var f = frame();
    if (!f) { return; }
    if (on) { f.setAttribute("data-stale-text", limits.getAttribute("data-stale")); f.classList.add("stale"); return; }
    if (!f.classList.contains("stale")) { return; }
    f.classList.remove("stale");
    window.setTimeout(function () { var gd = graphDiv(); if (gd && gd._fullLayout) { afterDraw(gd); } }, 0);
  }

  var NEWLINE = String.fromCharCode(10);  /* the stage lines' separator */
  var STAGE_AT = { received: 0.5, parse: 0.55, read: 0.68, check: 0.8, store: 0.88 };

  function finish(limits, drawn) {
    window.clearInterval(upload.timer);
    upload.awaiting = null;
    upload.pending = null;
    setStale(false, limits);
    if (drawn) {
      upload.drawnMs = Math.round(performance.now() - upload.started);
      progressLine(limits, "done", 1, { seconds: (upload.drawnMs / 1000).toFixed(1) });
    } else {
      var box = document.getElementById(ids().UPLOAD_PROGRESS);
      if (box) { box.hidden = true; }
    }
  }

  /* The new cluster's diagram is on screen once the figure says it is that cluster's (draw_view's meta.cluster). */
  function awaitDrawn(limits, key) {
    progressLine(limits, "draw", 0.93);
    window.clearInterval(upload.timer);
    upload.awaiting = { limits: limits, key: key };
    upload.timer = window.setInterval(drawnCheck, 40);  /* plotly_afterplot checks too (bindGraph) */
  }
  function drawnCluster() {
    var gd = graphDiv();
    return gd && gd._fullLayout && gd.layout && gd.layout.meta ? gd.layout.meta.cluster : undefined;
  }
  function drawnCheck() {
    var wanted = upload.awaiting, drawn = drawnCluster();
    if (wanted && drawn === wanted.key) {
      upload.awaiting = null;
      finish(wanted.limits, true);
    }
    if (loading.key && drawn === loading.key) { loadingDone(); }
  }

  /* A sample chosen, YAML pasted (or a lesson step's or the URL's cluster): the old diagram is greyed from the click
     until the controller's answer (Id.CLUSTER_LOADED) names the cluster now on screen and that cluster's diagram is
     drawn; an answer naming the cluster already drawn (the same sample, a paste with errors) ungreys it at once. */
  var LOADING_MAX_MS = 60000;  /* never greyed for good: a draw that fails says so in its banner */
  var loading = { key: null, timer: 0, poll: 0 };
  function keepStatusLine(limits) { limits.classList.add("keep-status"); }
  function loadingStart() {
    var limits = document.querySelector("[data-stale]");
    if (limits) { keepStatusLine(limits); setStale(true, limits); }
    window.clearTimeout(loading.timer);
    loading.timer = window.setTimeout(loadingDone, LOADING_MAX_MS);
  }
  function loadingDone() {
    loading.key = null;
    window.clearTimeout(loading.timer);
    window.clearInterval(loading.poll);
    if (!upload.pending && !upload.awaiting) { setStale(false); }
  }
  /* The start of a load, by hand: Load clicked under pasted YAML, or a sample chosen (the picker shows another
     value right after a click or a key in it). */
  function watchLoads(ev) {
    var picker = document.getElementById(ids().SAMPLE);
    if (!picker || !ids().CLUSTER_LOADED) { return; }
    var paste = document.getElementById(ids().PASTE);
    var load = ev.type === "click" && ev.target && ev.target.closest ? ev.target.closest("#" + ids().PASTE_LOAD) : null;
    if (load && paste && paste.value.trim() && drawnCluster() !== undefined) { loadingStart(); return; }
    var before = picker.textContent;
    window.setTimeout(function () {
      var now = document.getElementById(ids().SAMPLE);
      if (now && now.textContent !== before && drawnCluster() !== undefined) { loadingStart(); }
    }, 0);
  }
  document.addEventListener("click", watchLoads, true);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { watchLoads(ev); } }, true);

  function loadingAnswered(answer) {
    var key = answer && answer.key;
    var drawn = drawnCluster();
    if (!key || key === drawn) { loadingDone(); return; }
    if (drawn === undefined && !isStale()) { return; }  /* the page's first diagram: nothing old to grey */
    if (!isStale()) { loadingStart(); }
    loading.key = key;
    window.clearInterval(loading.poll);
    loading.poll = window.setInterval(drawnCheck, 100);  /* plotly_afterplot checks too, once the graph is bound */
  }

  function handResult(result) {
    result.at = Date.now();  /* the same file again is a new result */
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(ids().UPLOAD_RESULT, { data: result });
    }
  }

  function sendFiles(files, limits) {
    var messages = refusals(files, limits);
    if (messages.length) { showRefusal(limits, messages); return; }
    if (upload.pending) { upload.pending.abort(); }
    var form = new FormData();
    files.forEach(function (file) { form.append("file", file, file.name); });
    var xhr = new XMLHttpRequest(), seen = 0, result = null;
    upload.pending = xhr;
    upload.stages = [];
    upload.at = {};
    upload.started = performance.now();
    upload.drawnMs = null;
    upload.key = null;
    upload.error = null;
    keepStatusLine(limits);
    setStale(true, limits);
    progressLine(limits, "send", 0, { percent: 0 });
    var lang = new URLSearchParams(window.location.search).get("lang");
    xhr.open("POST", limits.getAttribute("data-upload-url") + (lang ? "?lang=" + encodeURIComponent(lang) : ""));
    xhr.upload.onprogress = function (ev) {
      if (!ev.lengthComputable) { return; }
      var share = ev.loaded / ev.total;
      progressLine(limits, "send", share * 0.5, { percent: Math.round(share * 100) });
    };
    function readLines() {
      var text = xhr.responseText, end = text.lastIndexOf(NEWLINE);
      if (end < seen) { return; }
      text.slice(seen, end).split(NEWLINE).forEach(function (line) {
        if (!line.trim()) { return; }
        var event;
        try { event = JSON.parse(line); } catch (e) { return; }
        if (event.stage) { progressLine(limits, event.stage, STAGE_AT[event.stage] || 0.5); }
        if (event.result) { result = event.result; }
      });
      seen = end + 1;
    }
    xhr.onprogress = readLines;
    xhr.onload = function () {
      readLines();
      if (xhr.status !== 200 || !result) {
        upload.error = xhr.status ? "HTTP " + xhr.status : "no answer";
        finish(limits, false);
        showRefusal(limits, [limits.getAttribute("data-failed").replace("{error}", upload.error)]);
        return;
      }
      upload.key = result.key;
      handResult(result);
      if (result.key) { awaitDrawn(limits, result.key); } else { finish(limits, false); }
    };
    xhr.onerror = function () {
      upload.error = "network error";
      finish(limits, false);
      showRefusal(limits, [limits.getAttribute("data-failed").replace("{error}", upload.error)]);
    };
    xhr.send(form);
  }

  /* `target` when it sits inside the upload component, else null. */
  function uploadZone(target) {
    var zone = document.getElementById(ids().UPLOAD);
    return zone && target && zone.contains(target) ? target : null;
  }

  function take(ev, fileList, zone) {
    var limits = zone.closest("[data-max-bytes]");
    if (!limits || !limits.getAttribute("data-upload-url") || !fileList || !fileList.length) { return false; }
    ev.stopPropagation();  /* dcc.Upload never sees these files: no base64 round trip */
    ev.preventDefault();
    sendFiles(Array.prototype.slice.call(fileList), limits);
    return true;
  }

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.type === "file" && uploadZone(t) && take(ev, t.files, t)) { t.value = ""; }
  }, true);
  document.addEventListener("drop", function (ev) {
    var zone = uploadZone(ev.target);
    if (zone && ev.dataTransfer) { take(ev, ev.dataTransfer.files, zone); }
  }, true);

  /* The URL mirrors the state (flow, settings, hop; in a lesson: lesson, step, hop and what differs from the
     step), so a bookmark or a reload restores it. `present=1` while presentation mode is on; `lang` is kept. */
  var urlState = { free: null, lesson: null };

  function writeUrl() {
    var params = new URLSearchParams();
    var lesson = urlState.lesson;
    if (lesson) {
      params.set("lesson", lesson.lesson);
      params.set("step", String(lesson.step));
      Object.keys(lesson.extra || {}).forEach(function (k) { params.set(k, lesson.extra[k]); });
      if (lesson.hop) { params.set("hop", String(lesson.hop)); }
    } else if (urlState.free) {
      urlState.free.forEach(function (kv) { params.set(kv[0], kv[1]); });
    } else {
      params = new URLSearchParams(window.location.search);
      params.delete("present");
    }
    if (presenting()) { params.set("present", "1"); }
    var lang = new URLSearchParams(window.location.search).get("lang");
    if (lang) { params.set("lang", lang); }  /* the page's language (netviz-language.js) */
    var query = params.toString();
    /* The #fragment is kept: the standalone lesson player (netviz-standalone.js) keeps its language and step there. */
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  /* The diagram follows its frame's size, not only the window's: in presentation mode the caption rows under it
     grow and shrink from hop to hop (a cut-off plot would hide the bottom of the drawing). */
  /* While a new cluster loads the old diagram is greyed (`stale`); the header's progress and status lines resize the
     frame meanwhile. The old diagram follows the frame (so the new one is drawn at the right size, with no redraw
     after it), but the player and the labels are not refitted on it (afterDraw): each refit redraws the whole
     figure, on the critical path of the new one. */
  var resizeQueued = false;
  function refit() {
    if (resizeQueued) { return; }
    resizeQueued = true;
    window.requestAnimationFrame(function () {
      resizeQueued = false;
      var gd = graphDiv();
      /* Its redraw ends in plotly_afterplot: afterDraw puts the packet back and fits the labels (not while stale). */
      if (gd && gd._fullLayout && window.Plotly) { window.Plotly.Plots.resize(gd); }
    });
  }
  function followFrame() {
    var frame = document.querySelector(".diagram-frame");
    if (!frame || !window.ResizeObserver) { return false; }
    new window.ResizeObserver(refit).observe(frame);
    return true;
  }
  (function watchFrame(tries) {
    if (!followFrame() && tries < 400) { window.setTimeout(function () { watchFrame(tries + 1); }, 50); }
  })(0);

  if (new URLSearchParams(window.location.search).get("present") === "1") {
    document.body.classList.add("presenting");
  }

  player.api = {
    arrive: arrive, play: play, pause: pause, step: step, setPresent: setPresent, presenting: presenting,
    writeUrl: writeUrl, graphDiv: graphDiv
  };

  var ns = (window.dash_clientside = window.dash_clientside || {});
  ns.netviz = Object.assign(ns.netviz || {}, {
    /* A new trace (or none): rebuild the frames and show the first (or the URL's, or the lesson step's) hop once
       the graph is drawn. The same trace redrawn (a node expanded, a namespace filtered) keeps the hop the player
       is on. `initialStep`: a hop index (the URL's `step`, used once) or {hop, at} from a lesson step (used once
       per `at`). */
    load: function (pb, initialStep) {
      pause();
      var previous = player.traceSignature, kept = player.index;
      player.frames = pb ? buildFrames(pb) : [];
      player.labels = (pb && pb.labels) || {};
      player.pb = pb || null;
      player.traceSignature = pb ? JSON.stringify(pb.trace) : null;
      if (!pb) {
        ready = null;
        player.index = 0;
        clearMarker();
        markCurrent("");
        player.onLoad.forEach(function (hook) { hook(null); });
        return window.dash_clientside.no_update;
      }
      var start = 0;
      if (player.traceSignature === previous && kept < player.frames.length) { start = kept; }
      if (!player.initialUsed && typeof initialStep === "number") { start = initialStep; }
      if (initialStep && typeof initialStep === "object" && initialStep.at !== player.lastInitial) {
        start = Number(initialStep.hop) || 0;
        player.lastInitial = initialStep.at;
      }
      player.initialUsed = true;
      player.onLoad.forEach(function (hook) { hook(pb); });
      whenGraphReady(pb.trace_count, pb.draw, function () { arrive(start); });
      return window.dash_clientside.no_update;
    },
    /* The controller answered a load (Id.CLUSTER_LOADED): ungrey now, or once that cluster's diagram is drawn. */
    loadingCluster: function (loaded) {
      loadingAnswered(loaded);
      return window.dash_clientside.no_update;
    },
    setSpeed: function (speed) {
      player.speed = Number(speed) || 1;
      return window.dash_clientside.no_update;
    },
    /* The URL mirrors the state, so a bookmark or a reload restores it. */
    syncUrl: function (key, sample, type, src, dst, mode, overlay, policy, down, namespace, view, stepIndex, plugin,
                       off, nav, bundle) {
      var free = [];
      if (sample) { free.push(["sample", sample]); } else if (key) { free.push(["cluster", key]); }
      var downText = down && down.length ? down.join(",") : "";
      var offText = off && off.length ? off.join(",") : "";
      var values = { type: type, src: src, dst: dst, mode: mode, overlay: overlay, etp: policy, down: downText,
                     plugin: plugin, off: offText };
      [["type", type], ["src", src], ["dst", dst], ["mode", mode], ["overlay", overlay], ["etp", policy],
       ["ns", namespace], ["plugin", plugin]].forEach(function (kv) { if (kv[1]) { free.push(kv); } });
      if (downText) { free.push(["down", downText]); }
      if (offText) { free.push(["off", offText]); }
      if (view && view.expanded && view.expanded.length) { free.push(["expand", view.expanded.join(",")]); }
      if (view && view.groups && view.groups.length) { free.push(["open", view.groups.join(",")]); }
      if (stepIndex) { free.push(["step", String(stepIndex)]); }
      urlState.free = free;
      urlState.lesson = null;
      if (nav && nav.lesson) {
        /* A lesson step: its own flow and settings are implied; only what the lecturer changed is written. */
        var own = bundle && bundle.name === nav.lesson && bundle.steps[nav.step - 1];
        var extra = {};
        if (own) {
          var mine = { type: own.flow.type, src: own.flow.src, dst: own.flow.dst, mode: own.whatIf.mode,
                       overlay: own.whatIf.overlay, etp: own.whatIf.etp, down: (own.whatIf.down || []).join(",") };
          Object.keys(values).forEach(function (k) { if (values[k] && values[k] !== mine[k]) { extra[k] = values[k]; } });
        }
        urlState.lesson = { lesson: nav.lesson, step: nav.step, hop: stepIndex || 0, extra: extra };
      }
      writeUrl();
      return window.dash_clientside.no_update;
    }
  });
  window.netvizPlayer = player;
})();
