/* k8s-netviz browser side: the lesson player (step counter, caption, PageDown/PageUp/Home/End, stops, what-if keys,
 * quiz) and the why of every trace (the header strip of the current hop, the three principles, the notes).
 * It lives in the one namespace window.dash_clientside.netviz and drives the packet player of netviz.js through
 * window.netvizPlayer. Everything it shows comes as JSON: the lesson (webapp/lessons/player.py: lesson_bundle) and
 * each trace's notes in the playback data — so a standalone exported page can run it with
 * netviz.lessonStart(bundle, navigate) and netviz.load(playback, {hop, at}). */
(function () {
  "use strict";

  var lesson = {
    bundle: null, nav: null, pb: null, onScript: false, score: { right: 0, asked: 0 }, answered: {}, quiz: null,
    revealTo: null, navigate: null, autoQuiz: true  /* false: only the step's own questions (key q) */
  };

  function holderJson(attr) {
    var holder = document.querySelector("[" + attr + "]");
    return holder ? JSON.parse(holder.getAttribute(attr)) : {};
  }
  var ID = null, TEXT = null;
  function ids() { if (!ID) { ID = holderJson("data-netviz-ids"); } return ID; }
  function say(key, fields) {
    if (!TEXT) { TEXT = holderJson("data-netviz-text"); }
    var template = TEXT[key] || key;
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return fields && fields[name] !== undefined ? String(fields[name]) : all;
    });
  }
  function player() { return window.netvizPlayer; }
  function byId(name) { return ids()[name] ? document.getElementById(ids()[name]) : null; }
  function setProps(name, props) {
    if (window.dash_clientside && window.dash_clientside.set_props && ids()[name]) {
      window.dash_clientside.set_props(ids()[name], props);
    }
  }

  function node(tag, className, children) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") { return; }
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }
  function fill(el, children) {
    if (!el) { return; }
    while (el.firstChild) { el.removeChild(el.firstChild); }
    children.forEach(function (child) { if (child) { el.appendChild(child); } });
  }

  function currentStep() {
    var b = lesson.bundle, n = lesson.nav;
    return b && n && b.name === n.lesson ? b.steps[n.step - 1] || null : null;
  }

  /* ---------------------------------------------------------------- the lesson bar: counter, title, caption */

  function renderBar() {
    var bar = byId("LESSON_BAR");
    var step = currentStep();
    document.body.classList.toggle("in-lesson", !!step);
    if (!bar) { return; }
    if (!step) { fill(bar, []); return; }
    var count = lesson.bundle.steps.length;
    var head = node("div", "lesson-head", [
      node("span", "lesson-counter", [say("lesson.counter", { step: lesson.nav.step, count: count })]),
      step.section ? node("span", "lesson-section", [step.section]) : null,
      node("span", "lesson-title", [step.title]),
      lesson.score.asked ? node("span", "lesson-score",
                                [say("quiz.score", { right: lesson.score.right, asked: lesson.score.asked })]) : null
    ]);
    var parts = [head, node("p", "lesson-caption", [step.caption])];
    (step.problems || []).forEach(function (p) { parts.push(node("p", "lesson-problem", [p])); });
    if (lesson.pb && !lesson.onScript) { parts.push(node("p", "lesson-off-script", [say("lesson.off_script")])); }
    /* A lesson written with autoQuiz: false has no automatic questions to switch (webapp/lessons/player.py). */
    var switchable = lesson.bundle.autoQuiz !== false;
    if (switchable && !lesson.autoQuiz) { parts.push(node("p", "lesson-quiz-off", [say("lesson.quiz_off")])); }
    parts.push(node("div", "lesson-legend", [say("lesson.keys"), " · "].concat(
      switchable ? [say("lesson.quiz_keys"), " · "] : [], [say("lesson.whatif_keys")])));
    fill(bar, parts);
  }

  /* ---------------------------------------------------------------- why: principles, notes, header strip */

  function principleItems(pb) {
    return ((pb.notes || {}).principles || []).map(function (p) {
      var mark = p.ok === true ? say("principles.holds") : p.ok === false ? say("principles.broken")
        : say("principles.none");
      var state = p.ok === true ? "holds" : p.ok === false ? "broken" : "none";
      var item = node("li", "principle " + state, [node("span", "mark", [mark]), " ", p.name,
                                                    node("span", "says", [" — " + p.says])]);
      item.title = p.says;
      return item;
    });
  }

  function renderWhy(pb) {
    var side = byId("WHY");
    var panel = byId("PRESENT_PANEL");
    if (!pb) { fill(side, []); fill(panel, []); return; }
    var notes = (pb.notes || {}).why || [];
    fill(side, [
      node("h3", "", [say("principles.title")]),
      node("ul", "principles", principleItems(pb)),
      notes.length ? node("p", "why-notes", [notes.join(" ")]) : null
    ]);
    fill(panel, [
      node("div", "strip"),
      node("ul", "principles", principleItems(pb)),
      notes.length ? node("p", "why-notes", [notes.join(" ")]) : null
    ]);
  }

  function cell(kind, label, content) {
    return node("span", "cell cell-" + kind, [node("b", "", [label]), " "].concat(content));
  }

  /* The compact header strip of frame f: where, inner and outer headers, NAT before → after (changed parts
     highlighted), the endpoint chosen with its probability, the rule, route or FDB entry that decided. */
  function renderStrip(f) {
    var panel = byId("PRESENT_PANEL");
    var box = panel ? panel.querySelector(".strip") : null;
    var pb = lesson.pb;
    if (!box || !pb || !f) { return; }
    var hops = (pb.notes || {})[f.phase === "reply" ? "reply" : "hops"] || [];
    var info = hops[f.index];
    if (!info) { fill(box, []); return; }
    var strip = info.strip;
    var cells = [cell("where", say("strip.where"), [info.device + " · " + info.namespace])];
    cells.push(cell("inner", say("strip.inner"), [node("code", "", [strip.inner])]));
    if (strip.outer) { cells.push(cell("outer", say("strip.outer"), [node("code", "", [strip.outer])])); }
    strip.rewrites.forEach(function (c) {
      cells.push(cell("nat", say("strip.nat"), [
        c.field + " ", node("s", "before", [c.before]), " → ", node("mark", "after", [c.after])]));
    });
    if (strip.chosen) {
      var pct = (Math.round(strip.chosen.probability * 1000) / 10).toString() + " %";
      cells.push(cell("endpoint", say("strip.endpoint"), [node("code", "", [strip.chosen.dst]), " (" + pct + ")"]));
    }
    if (strip.rule) { cells.push(cell("rule", say("strip.rule"), [node("code", "", [strip.rule])])); }
    fill(box, cells);
    box.setAttribute("data-hop", f.ref);
  }

  /* ---------------------------------------------------------------- quiz */

  function pointAt(frame) {
    var step = currentStep();
    if (!lesson.onScript || !step || !frame || frame.phase !== "request") { return null; }
    for (var i = 0; i < step.quiz.length; i++) {
      var q = step.quiz[i];
      if (!lesson.autoQuiz && !q.own) { continue; }
      if (Math.max(q.pause_after, 0) === frame.index && !lesson.answered[i]) { return { point: q, n: i }; }
    }
    return null;
  }

  function renderQuiz() {
    var box = byId("QUIZ");
    var q = lesson.quiz;
    if (!box) { return; }
    document.body.classList.toggle("quizzing", !!q);
    if (!q) { fill(box, []); return; }
    var p = q.point;
    var answers = p.answers.map(function (a, i) {
      var cls = "answer";
      if (q.choice !== undefined && i === p.right) { cls += " right"; }
      if (q.choice === i && i !== p.right) { cls += " wrong"; }
      var b = node("button", cls, [node("kbd", "", [String(i + 1)]), " " + a]);
      b.setAttribute("data-answer", String(i + 1));
      return node("li", "", [b]);
    });
    var parts = [node("div", "quiz-title", [say("quiz.title")]), node("p", "quiz-question", [p.question]),
                 node("ol", "answers", answers)];
    if (q.choice === undefined) {
      parts.push(node("div", "quiz-keys", [say("quiz.keys", { count: p.answers.length })]));
    } else {
      var right = q.choice === p.right;
      parts.push(node("p", "quiz-verdict " + (right ? "right" : "wrong"),
                      [right ? say("quiz.right") : say("quiz.wrong", { answer: p.answers[p.right] })]));
      parts.push(node("p", "quiz-explain", [p.explain.join(" ")]));
      parts.push(node("div", "quiz-score", [say("quiz.score", { right: lesson.score.right, asked: lesson.score.asked })]));
    }
    fill(box, parts);
  }

  function ask(found) {
    lesson.quiz = { point: found.point, n: found.n };
    renderQuiz();
  }

  function answer(choice) {
    var q = lesson.quiz;
    if (!q || q.choice !== undefined || choice < 0 || choice >= q.point.answers.length) { return; }
    q.choice = choice;
    lesson.answered[q.n] = true;
    lesson.score.asked += 1;
    if (choice === q.point.right) { lesson.score.right += 1; }
    renderQuiz();
    renderBar();
    /* The reveal: play on to the hop that answers it. */
    var target = q.point.answer_hop;
    var pl = player();
    if (pl && pl.index < target) { lesson.revealTo = target; pl.api.play(); }
  }

  function closeQuiz() {
    if (lesson.quiz) { lesson.quiz = null; renderQuiz(); }
  }

  /* Key q: the automatic questions off (only a step's own are asked) or on again; an automatic question on
     screen and not answered yet goes away. */
  function toggleAutoQuiz() {
    lesson.autoQuiz = !lesson.autoQuiz;
    var q = lesson.quiz;
    if (!lesson.autoQuiz && q && !q.point.own && q.choice === undefined) { closeQuiz(); }
    renderBar();
  }

  /* ---------------------------------------------------------------- hooks into the packet player */

  function isStop(i) {
    var pl = player(), step = currentStep();
    var f = pl && pl.frames[i];
    if (!f) { return false; }
    if (lesson.revealTo !== null) {
      if (f.phase === "request" && f.index >= lesson.revealTo) { lesson.revealTo = null; return true; }
      return false;
    }
    if (pointAt(f)) { return true; }
    return !!(lesson.onScript && step && f.phase === "request" && step.stops.indexOf(f.index) >= 0);
  }

  /* A hop shown: its strip; a question comes up when playback or a step forward reaches it (the packet player
     asked `isStop` first); an answered question stays up until the player moves past its answer. */
  function onArrive(i, f) {
    renderStrip(f);
    var q = lesson.quiz;
    if (q && (f.phase !== "request" || f.index > q.point.answer_hop || f.index < Math.max(q.point.pause_after, 0))) {
      closeQuiz();
    }
    var landing = lesson.landing;
    lesson.landing = false;  /* landing on a step's first stop asks nothing: space or → asks */
    var found = pointAt(f);
    if (found && !landing && lesson.revealTo === null && !(lesson.quiz && lesson.quiz.n === found.n)) { ask(found); }
  }

  function onLoad(pb) {
    lesson.pb = pb;
    lesson.landing = true;
    lesson.quiz = null;
    lesson.revealTo = null;
    var step = currentStep();
    lesson.onScript = !!(pb && step && step.key && pb.notes && pb.notes.key === step.key);
    renderWhy(pb);
    renderQuiz();
    renderBar();
  }

  function install() {
    var pl = player();
    if (!pl || pl.__lessonHooks) { return !!pl; }
    pl.__lessonHooks = true;
    pl.onArrive.push(onArrive);
    pl.onLoad.push(onLoad);
    pl.stopAt = isStop;
    return true;
  }
  if (!install()) { document.addEventListener("DOMContentLoaded", install); window.setTimeout(install, 0); }

  /* ---------------------------------------------------------------- navigation and keys */

  function goTo(number) {
    var b = lesson.bundle;
    if (!b || !lesson.nav) { return; }
    number = Math.max(1, Math.min(number, b.steps.length));
    if (number === lesson.nav.step) { return; }
    lesson.nav = { lesson: b.name, step: number };
    lesson.answered = {};
    closeQuiz();
    renderBar();
    if (player()) { player().api.pause(); }
    (lesson.navigate || function (nav) { setProps("LESSON_NAV", { data: nav }); })(lesson.nav);
  }

  /* What-if keys: m the next kube-proxy mode, o the next overlay, d the chosen backend marked down. */
  function cycle(list, current) {
    var i = list.indexOf(current);
    return list[(i + 1) % list.length];
  }
  function whatIf(key) {
    var pb = lesson.pb || (player() && player().pb);
    var settings = pb && pb.settings;
    if (!settings) { return; }
    if (key === "m") { setProps("MODE", { value: cycle(settings.modes, settings.mode) }); }
    else if (key === "o") { setProps("OVERLAY", { value: cycle(settings.overlays, settings.overlay) }); }
    else if (key === "d" && pb.chosen_pod) {
      var down = (settings.down || []).slice();
      if (down.indexOf(pb.chosen_pod) < 0) { down.push(pb.chosen_pod); }
      setProps("DOWN_PODS", { value: down });
    }
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
    var key = ev.key;
    if (lesson.quiz && lesson.quiz.choice === undefined && /^[1-4]$/.test(key)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      answer(Number(key) - 1);
      return;
    }
    if (/^[mod]$/.test(key)) { ev.preventDefault(); whatIf(key); return; }
    if (!currentStep()) { return; }
    if (key === "q" && lesson.bundle.autoQuiz !== false) { ev.preventDefault(); toggleAutoQuiz(); return; }
    var pl = player();
    if (key === " " || key === "Spacebar" || key === "ArrowRight") {
      /* Sitting on a question not answered yet: ask it instead of moving on. */
      var here = pl && pl.frames[pl.index];
      var found = here && !pl.playing ? pointAt(here) : null;
      if (found && !(lesson.quiz && lesson.quiz.n === found.n)) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        ask(found);
        return;
      }
      if (lesson.quiz && lesson.quiz.choice === undefined) { lesson.answered[lesson.quiz.n] = true; closeQuiz(); }
      return;  /* netviz.js plays or steps */
    }
    var moves = { PageDown: 1, PageUp: -1 };
    if (key in moves) { ev.preventDefault(); goTo(lesson.nav.step + moves[key]); }
    else if (key === "Home") { ev.preventDefault(); goTo(1); }
    else if (key === "End") { ev.preventDefault(); goTo(lesson.bundle.steps.length); }
  }, true);

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-answer]") : null;
    if (button) { answer(Number(button.getAttribute("data-answer")) - 1); button.blur(); }
  });

  var ns = (window.dash_clientside = window.dash_clientside || {});
  ns.netviz = Object.assign(ns.netviz || {}, {
    /* The lesson on screen changed (`nav`: {lesson, step}, or none) or its JSON arrived. */
    lessonSync: function (nav, bundle) {
      install();
      var changedLesson = !lesson.nav || !nav || lesson.nav.lesson !== nav.lesson;
      lesson.bundle = bundle || null;
      lesson.nav = nav && nav.lesson ? { lesson: nav.lesson, step: nav.step } : null;
      if (changedLesson) { lesson.score = { right: 0, asked: 0 }; lesson.answered = {}; }
      var step = currentStep();
      lesson.onScript = !!(lesson.pb && step && step.key && lesson.pb.notes && lesson.pb.notes.key === step.key);
      renderBar();
      return window.dash_clientside.no_update;
    },
    /* A standalone page: start `bundle` at step `number`; `navigate(nav)` shows a step (its trace loaded with
       netviz.load). */
    lessonStart: function (bundle, number, navigate) {
      lesson.navigate = navigate || null;
      lesson.bundle = bundle;
      lesson.nav = { lesson: bundle.name, step: number || 1 };
      lesson.score = { right: 0, asked: 0 };
      install();
      renderBar();
    },
    lessonState: function () { return lesson; }
  });
  window.netvizLesson = lesson;
})();
