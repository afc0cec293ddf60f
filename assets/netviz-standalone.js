/* k8s-netviz standalone lesson player (`k8s-netviz export lesson`): one HTML file that plays a lesson from file://
 * with no server and no network. This file only hosts the page's own clientside player (netviz.js, the packet
 * player; netviz-lesson.js, the lesson player), inlined beside it: it reads the lesson's precomputed data (the
 * diagrams, every step's trace, the hop lists, both languages; gzip + base64 in #netviz-data), draws the step's
 * diagram with Plotly and hands the step's trace to netviz.load, as the served page's callbacks do.
 * The language and the step live in the URL's #fragment (`#lang=zh&step=3`); switching the language reloads. */
(function () {
  "use strict";

  var state = { data: null, lang: "en", shown: 0 };

  function fragment() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    return { lang: params.get("lang"), step: Number(params.get("step")) || 0 };
  }

  function writeFragment(step) {
    var hash = "#lang=" + state.lang + "&step=" + step;
    if (window.location.hash !== hash) {
      try { window.history.replaceState(null, "", hash); } catch (e) { window.location.hash = hash; }
    }
  }

  async function readData() {
    var text = document.getElementById("netviz-data").textContent.trim();
    var binary = window.atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function byId(name) {
    var ids = state.data.ids;
    return ids[name] ? document.getElementById(ids[name]) : null;
  }

  /* The page's fixed words in the chosen language: every element with data-text="catalogue key". */
  function applyWords() {
    var words = state.data.page[state.lang];
    document.documentElement.lang = state.data.html_lang[state.lang];
    document.title = state.data.lessons[state.lang].title + " · k8s-netviz";
    document.querySelectorAll(".lesson-name").forEach(function (el) { el.textContent = state.data.lessons[state.lang].title; });
    document.querySelectorAll("[data-text]").forEach(function (el) {
      var key = el.getAttribute("data-text");
      if (words[key] !== undefined) { el.textContent = words[key]; }
    });
    document.querySelectorAll("[data-title-text]").forEach(function (el) {
      var key = el.getAttribute("data-title-text");
      if (words[key] !== undefined) { el.title = words[key]; }
    });
    var play = byId("PLAY");
    if (play) { play.setAttribute("data-play", words["player.play"]); play.setAttribute("data-pause", words["player.pause"]); }
    document.getElementById("page").setAttribute("data-netviz-text", JSON.stringify(state.data.text[state.lang]));
    document.querySelectorAll("[data-lang]").forEach(function (a) {
      var current = a.getAttribute("data-lang") === state.lang;
      a.classList.toggle("current", current);
      a.setAttribute("aria-current", current ? "true" : "false");
    });
  }

  function setHtml(name, content) {
    var el = byId(name);
    if (el) { el.innerHTML = content || ""; }
  }

  /* Step `number` (1-based): its diagram, then its trace in the player (landing on the step's first stop). */
  function show(number) {
    var bundle = state.data.lessons[state.lang];
    number = Math.max(1, Math.min(number, bundle.steps.length));
    var step = bundle.steps[number - 1];
    var view = state.data.traces[step.trace];
    var figure = state.data.figures[step.figure];
    var gd = document.querySelector("#" + state.data.ids.DIAGRAM + " .plot");
    state.shown = number;
    writeFragment(number);
    setHtml("HOP_LIST", view.hops[state.lang]);
    setHtml("INSPECTOR", view.panels[state.lang]);
    setHtml("CAPTION", view.captions[state.lang]);
    var verdict = byId("VERDICT");
    if (verdict) { verdict.textContent = view.verdict[state.lang][0]; verdict.className = view.verdict[state.lang][1]; }
    var badge = byId("NAT_BADGE");
    if (badge) {
      badge.textContent = view.badge[state.lang][0];
      badge.className = view.badge[state.lang][1];
      badge.title = view.badge[state.lang][2];
    }
    var playback = view.playback[state.lang];
    return window.Plotly.react(gd, figure.data, figure.layout, state.data.config).then(function () {
      window.dash_clientside.netviz.load(playback, { hop: step.land || 0, at: state.lang + ":" + number });
    });
  }

  /* The picture buttons: plotly's own image export of the diagram as it is on screen, with only the labels of
     the mode shown (the page hides the other set by CSS, which a picture does not carry). */
  function saveImage(format) {
    var gd = document.querySelector("#" + state.data.ids.DIAGRAM + " .plot");
    var hidden = document.body.classList.contains("presenting") ? "nvn" : "nvp";
    var data = gd.data.filter(function (t) { return String(t.uid || "").indexOf(hidden) !== 0; });
    var layout = JSON.parse(JSON.stringify(gd.layout));
    var name = "k8s-netviz-" + state.data.name + "-step" + state.shown + "-hop" + (window.netvizPlayer.index + 1);
    window.Plotly.toImage({ data: data, layout: layout }, { format: format, width: 1600, height: 900 })
      .then(function (url) {
        var a = document.createElement("a");
        a.href = url;
        a.download = name + "." + format;
        document.body.appendChild(a);
        a.click();
        a.remove();
      });
  }

  document.addEventListener("click", function (ev) {
    var target = ev.target.closest ? ev.target.closest("a[data-lang], button") : null;
    if (!target || !state.data) { return; }
    var lang = target.getAttribute("data-lang");
    if (lang) {
      ev.preventDefault();
      if (lang !== state.lang) {
        window.location.hash = "lang=" + lang + "&step=" + (state.shown || 1);
        window.location.reload();
      }
      return;
    }
    var ids = state.data.ids;
    if (target.id === ids.EXPORT_PNG) { saveImage("png"); }
    else if (target.id === ids.EXPORT_SVG) { saveImage("svg"); }
    else if (target.id === ids.EXPORT_JSON) {
      var pb = window.netvizPlayer.pb;
      if (pb && pb.trace) {
        window.dash_clientside.netvizExport.saveFile(window.dash_clientside.netvizExport.traceFile(pb.trace),
                                                     "application/json");
      }
    } else { return; }
    target.blur();
  });

  async function start() {
    state.data = await readData();
    var asked = fragment();
    state.lang = state.data.languages.indexOf(asked.lang) >= 0 ? asked.lang : state.data.language;
    applyWords();
    var gd = document.querySelector("#" + state.data.ids.DIAGRAM + " .plot");
    await window.Plotly.newPlot(gd, [], {}, state.data.config);
    var bundle = state.data.lessons[state.lang];
    var first = Math.max(1, Math.min(asked.step || 1, bundle.steps.length));
    window.dash_clientside.netviz.lessonStart(bundle, first, function (nav) { show(nav.step); });
    await show(first);
    document.body.setAttribute("data-ready", "1");
  }

  /* Only in an exported file (the served page loads every asset too, and has no #netviz-data). */
  if (document.getElementById("netviz-data")) {
    window.netvizStandalone = { state: state, show: show, ready: start() };
  }
})();
