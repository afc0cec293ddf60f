"""The standalone lesson player: one self-contained HTML file (`k8s-netviz export lesson`, and the page's "⤓ Lesson"
button) that plays a lesson from file:// with no server and no network.

It carries the served page's own clientside player — assets/netviz.js (the packet player, keys, presentation mode)
and assets/netviz-lesson.js (lesson steps, header strip, quiz) — inlined, not copied: the same files the page loads.
assets/netviz-standalone.js plays the part of the server's callbacks: the lesson's data is computed here once for
both languages — each step's diagram, trace, playback points, notes (principles, header strips), hop list,
inspector panels and captions (rendered by the page's own webapp.app.inspector) — deduplicated, gzipped and
base64-encoded into the page. plotly.js (the vendored basic bundle) is inlined too. A Content-Security-Policy meta
tag forbids every network request, so the file can fetch nothing even by mistake."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
from typing import Any

from webapp.app.catalog import CATALOGS
from webapp.app.inspector import nat_badge, render_trace, verdict
from webapp.app.language import HTML_LANG, LANGUAGE_NAMES
from webapp.app.layout import GRAPH_CONFIG, TEXT_KEYS, Id, client_ids
from webapp.app.static_html import to_html
from webapp.figures import build_diagram, playback
from webapp.figures.player import trace_view
from webapp.lessons.loader import resolve_step
from webapp.lessons.model import LOADED, FlowSpec, Lesson, LessonStep, Text
from webapp.lessons.player import step_json, trace_notes
from webapp.model import Cluster
from webapp.narration import LANGUAGES, narration_language
from webapp.variants import ViewSettings
from webapp.paths import ASSETS_DIR

SCRIPTS = ("vendor/plotly-basic.min.js", "netviz.js", "netviz-lesson.js", "netviz-export.js",
           "netviz-standalone.js")
"""Inlined in this order: plotly.js, the page's player, the lesson player, the JSON download, the host."""
STYLES = ("netviz.css", "netviz-export.css", "netviz-standalone.css")

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")
"""No request leaves the file: scripts and styles only inline, pictures only from data: and blob: URLs (plotly's
own image export), no connection, no form."""

PAGE_KEYS = ("app.title", "app.tagline", "player.restart", "player.back", "player.play", "player.pause",
             "player.forward", "player.present", "player.keys", "hops.title", "inspector.title", "inspector.none",
             "why.title", "header.language", "export.png", "export.svg", "export.json", "export.image.title",
             "export.json.title", "export.offline")
"""The page's fixed words the standalone page shows (`data-text` attributes), in every language."""

GRAPH = {**GRAPH_CONFIG, "modeBarButtonsToRemove": list(GRAPH_CONFIG["modeBarButtonsToRemove"])}


def _figure_view(cluster: Cluster, trace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The step's diagram and the player's data for its trace, as the page's draw callback makes them."""
    diagram = build_diagram(cluster, trace_view(cluster, trace))
    data = playback(diagram, trace)
    data["trace_count"] = len(diagram.figure["data"])
    return diagram.figure, data


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class _Table:
    """Values stored once, referred to by index (the same diagram or trace in several steps or languages)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[str, int] = {}

    def add(self, value: Any) -> int:
        key = hashlib.sha256(_compact(value).encode()).hexdigest()
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append(value)
        return self._index[key]


def lesson_data(lesson: Lesson, language: str, loaded: Cluster | None = None) -> dict[str, Any]:
    """Everything the standalone page plays, in every language; `language` is the one it opens in."""
    figures, traces = _Table(), _Table()
    lessons: dict[str, Any] = {}
    views: dict[str, list[dict[str, Any]]] = {}
    for lang in LANGUAGES:
        with narration_language(lang):
            steps, views[lang] = [], []
            for step in lesson.steps:
                resolved = resolve_step(step, loaded)
                figure, data = _figure_view(resolved.cluster, resolved.trace)
                data["notes"] = trace_notes(resolved.trace, lang)
                hops, panels, captions = render_trace(resolved.trace, resolved.cluster)
                views[lang].append({"playback": data, "hops": to_html(hops), "panels": to_html(panels),
                                    "captions": to_html(captions), "verdict": list(verdict(resolved.trace)),
                                    "badge": list(nat_badge(resolved.trace))})
                steps.append({**step_json(step, lang, loaded, auto_quiz=lesson.auto_quiz),
                              "figure": figures.add(figure)})
            lessons[lang] = {"name": lesson.name, "title": lesson.title.get(lang), "autoQuiz": lesson.auto_quiz,
                             "steps": steps}
    for index in range(len(lesson.steps)):  # a step's trace in both languages: one entry, shared by equal steps
        entry = {field: {lang: views[lang][index][field] for lang in LANGUAGES} for field in views[LANGUAGES[0]][0]}
        position = traces.add(entry)
        for lang in LANGUAGES:
            lessons[lang]["steps"][index]["trace"] = position
    return {
        "name": lesson.name,
        "language": language,
        "languages": list(LANGUAGES),
        "html_lang": HTML_LANG,
        "figures": figures.items,
        "traces": traces.items,
        "lessons": lessons,
        "text": {lang: {**{key: CATALOGS[lang][key] for key in TEXT_KEYS},
                        "lesson.whatif_keys": CATALOGS[lang]["export.whatif_offline"]} for lang in LANGUAGES},
        "page": {lang: {key: CATALOGS[lang][key] for key in PAGE_KEYS} for lang in LANGUAGES},
        "ids": {**json.loads(client_ids()), "EXPORT_PNG": "export-png", "EXPORT_SVG": "export-svg",
                "EXPORT_JSON": "export-json"},
        "config": GRAPH,
    }


def _asset(name: str) -> str:
    text = (ASSETS_DIR / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"assets/{name} cannot be inlined: it contains an end tag")
    return text


def _words(language: str, key: str) -> str:
    return html.escape(CATALOGS[language][key], quote=False)


def _button(id_: str, key: str, language: str, cls: str = "button", title: str | None = None) -> str:
    extra = f' data-title-text="{title}" title="{html.escape(CATALOGS[language][title])}"' if title else ""
    return f'<button id="{id_}" class="{cls}" data-text="{key}"{extra}>{_words(language, key)}</button>'


def standalone_html(lesson: Lesson, language: str = "en", loaded: Cluster | None = None) -> str:
    """The lesson as one HTML file that opens in `language` (both are inside, switchable)."""
    data = lesson_data(lesson, language, loaded)
    packed = base64.b64encode(gzip.compress(_compact(data).encode(), compresslevel=9, mtime=0)).decode("ascii")
    ids = data["ids"]
    say = lambda key: _words(language, key)  # noqa: E731 - a short local alias
    languages = "".join(
        f'<a class="language{" current" if code == language else ""}" href="#lang={code}" data-lang="{code}" '
        f'lang="{HTML_LANG[code]}">{LANGUAGE_NAMES[code]}</a>' for code in LANGUAGES)
    body = f"""<div id="page" class="page standalone" data-netviz-ids="{html.escape(_compact(ids))}" data-netviz-text="">
<header class="header"><div class="brand"><h1 data-text="app.title">{say("app.title")}</h1>
<span class="tagline" data-text="app.tagline">{say("app.tagline")}</span></div>
<div class="cluster"><strong class="lesson-name">{html.escape(lesson.title.get(language))}</strong>
<span class="offline" data-text="export.offline">{say("export.offline")}</span></div></header>
<div class="body"><main class="stage">
<div id="{ids["LESSON_BAR"]}" class="lesson-bar"></div>
<div class="picker"><span id="{ids["NAT_BADGE"]}" class="badge"></span><div class="view-tools"><div class="export-tools">
{_button(ids["EXPORT_PNG"], "export.png", language, title="export.image.title")}
{_button(ids["EXPORT_SVG"], "export.svg", language, title="export.image.title")}
{_button(ids["EXPORT_JSON"], "export.json", language, title="export.json.title")}</div></div></div>
<div class="diagram-frame"><div id="{ids["DIAGRAM"]}" class="diagram"><div class="plot"></div></div></div>
<div class="player">{_button(ids["RESTART"], "player.restart", language)}{_button(ids["BACK"], "player.back", language)}
<button id="{ids["PLAY"]}" class="button primary" data-text="player.play">{say("player.play")}</button>
{_button(ids["FORWARD"], "player.forward", language)}{_button(ids["PRESENT"], "player.present", language)}
<span class="keys" data-text="player.keys">{say("player.keys")}</span>
<div class="language-switch"><span class="label" data-text="header.language">{say("header.language")}</span>
<div class="languages">{languages}</div></div></div>
<div class="caption-row"><div id="{ids["VERDICT"]}" class="verdict"></div><div id="{ids["CAPTION"]}" class="caption"></div></div>
<div id="{ids["PRESENT_PANEL"]}" class="present-panel"></div>
<div id="{ids["QUIZ"]}" class="quiz" role="dialog"></div>
</main><aside class="side">
<section class="panel why-panel"><h2 data-text="why.title">{say("why.title")}</h2><div id="{ids["WHY"]}"></div></section>
<section class="panel"><h2 data-text="inspector.title">{say("inspector.title")}</h2>
<div id="{ids["INSPECTOR"]}">{say("inspector.none")}</div></section>
<section class="panel hops"><h2 data-text="hops.title">{say("hops.title")}</h2><div id="{ids["HOP_LIST"]}"></div></section>
</aside></div></div>"""
    styles = "\n".join(_asset(name) for name in STYLES)
    scripts = "\n".join(f"<script>\n{_asset(name)}\n</script>" for name in SCRIPTS)
    return f"""<!DOCTYPE html>
<html lang="{HTML_LANG[language]}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="k8s-netviz export lesson">
<title>{html.escape(lesson.title.get(language))} · k8s-netviz</title>
<style>
{styles}
</style>
</head>
<body>
{body}
<script type="application/octet-stream" id="netviz-data">
{packed}
</script>
{scripts}
</body>
</html>
"""


def flow_lesson(flow_type: str, src: str, dst: str, settings: ViewSettings = ViewSettings()) -> Lesson:
    """One flow as a one-step lesson on the loaded cluster (the page's "⤓ Lesson" without a lesson open)."""
    from webapp.engine.flows import FlowType

    line = f"{flow_type}: {src} → {dst}"
    step = LessonStep(title=Text(line, line), cluster=LOADED, flow=FlowSpec(FlowType(flow_type), src, dst),
                      view=settings, stops=(), caption=Text(line, line))
    return Lesson(name="flow", title=Text(line, line), steps=(step,))
