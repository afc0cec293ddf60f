"""The standalone lesson player as a file (`k8s-netviz export lesson`): self-contained (the page's own player and
plotly.js inlined, the data inside), at most 3 MB for the seed lesson, and no URL in it that the page would load.
tests/browser/test_standalone_browser.py plays it offline."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.app.standalone import CSP, SCRIPTS, lesson_data, standalone_html
from webapp.lessons import builtin_lesson
from webapp.paths import ASSETS_DIR

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"https?://[^\s\"'<>()\\`]+")
LOADS = re.compile(r"""(?:\b(?:src|href|action|poster|data|srcset|formaction)\s*=\s*["']?\s*|url\(\s*["']?\s*|"""
                   r"""@import\s+["']?|\b(?:fetch|open|importScripts)\(\s*["'])(https?://[^\s"'<>()\\`]+)""", re.I)
"""A URL where it could be fetched or followed: an HTML attribute or DOM property that loads or links, a CSS
url()/@import, a fetch/XHR/window.open."""
LINKED = {"https://plotly.com/": "the mode bar's logo (`a.href = …`), a link, and not drawn: displaylogo is false"}
"""The one such URL in the file, and why the page neither loads nor shows it."""
INERT = {
    "http://www.w3.org/2000/svg": "an XML namespace name (plotly's SVG), never fetched",
    "http://www.w3.org/1999/xlink": "an XML namespace name",
    "http://www.w3.org/2000/xmlns/": "an XML namespace name",
    "http://www.w3.org/XML/1998/namespace": "an XML namespace name",
    "http://www.w3.org/1999/xhtml": "an XML namespace name",
    "https://plotly.com/": "the mode bar's logo link, off (displaylogo: false)",
    "https://plotly.com/javascript/animations/": "text of a plotly error message",
    "https://cloud.plotly.com/newchart": "the 'send to cloud' button's target, off (showSendToCloud: false)",
    "https://cdn.plot.ly/un/": "topojsonURL: fetched only by geo maps, which the basic bundle cannot draw",
    "https://github.com/voidqk/polybooljs": "a licence comment",
    "https://github.com/d3/d3-time-format/tree/v2.2.3#locale_format": "text of a d3 error message",
    "https://github.com/d3/d3-format/tree/v1.4.5#d3-format": "text of a d3 error message",
    "http://syntheti.cc": "a licence comment",
    "http://getify.mit-license.org": "a licence comment",
}
"""Every http(s) URL the file holds, and why the page never loads it."""


@pytest.fixture(scope="module")
def page() -> str:
    return standalone_html(builtin_lesson("seed-article"), "zh")


def packed_data(page: str) -> dict:
    blob = re.search(r'<script type="application/octet-stream" id="netviz-data">\s*(\S+)\s*</script>', page).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))


def test_the_seed_lesson_is_at_most_3_mb(page):
    assert len(page.encode("utf-8")) <= 3_000_000


def test_the_page_inlines_the_served_pages_own_player_and_plotly(page):
    for name in SCRIPTS:
        assert (ASSETS_DIR / name).read_text(encoding="utf-8") in page
    assert "<script src" not in page and "<link" not in page
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "connect-src 'none'" in CSP and "default-src 'none'" in CSP


def test_no_url_the_page_would_load(page):
    assert sorted(set(LOADS.findall(page))) == sorted(LINKED)
    assert packed_data(page)["config"]["displaylogo"] is False
    assert packed_data(page)["config"]["showSendToCloud"] is False
    assert sorted(set(URL.findall(page)) - set(INERT)) == []
    data = packed_data(page)
    fragments = json.dumps(data["traces"], ensure_ascii=False)
    assert LOADS.findall(fragments) == [] and URL.findall(fragments) == []


def test_the_scan_finds_a_url_that_would_load():
    assert LOADS.findall('<img src="https://example.org/a.png">') == ["https://example.org/a.png"]
    assert LOADS.findall("a { background: url('http://example.org/x') }") == ["http://example.org/x"]
    assert LOADS.findall('fetch("https://example.org/api")') == ["https://example.org/api"]
    assert LOADS.findall('<p>see https://example.org</p>') == []


def test_the_data_holds_every_step_in_both_languages_each_diagram_and_trace_once(page):
    data = packed_data(page)
    lesson = builtin_lesson("seed-article")
    assert data["languages"] == ["en", "zh"] and data["language"] == "zh"
    for language in ("en", "zh"):
        steps = data["lessons"][language]["steps"]
        assert [s["title"] for s in steps] == [s.title.get(language) for s in lesson.steps]
        assert all(0 <= s["figure"] < len(data["figures"]) and 0 <= s["trace"] < len(data["traces"]) for s in steps)
    assert [s["trace"] for s in data["lessons"]["en"]["steps"]] == [s["trace"] for s in data["lessons"]["zh"]["steps"]]
    # Steps 1 and 5 play the same flow on the same cluster: one trace entry.
    assert data["lessons"]["en"]["steps"][0]["trace"] == data["lessons"]["en"]["steps"][4]["trace"]
    assert len(data["traces"]) < len(lesson.steps) == 27
    assert len({json.dumps(f, sort_keys=True) for f in data["figures"]}) == len(data["figures"])
    trace = data["traces"][0]
    assert trace["playback"]["en"]["trace"]["language"] == "en"
    assert trace["playback"]["zh"]["trace"]["language"] == "zh"
    assert trace["hops"]["en"].startswith('<h3 class="phase request">Request</h3>')
    assert trace["hops"]["zh"].startswith('<h3 class="phase request">请求</h3>')


def test_lesson_data_is_the_same_for_either_opening_language():
    lesson = builtin_lesson("seed-article")
    english, chinese = lesson_data(lesson, "en"), lesson_data(lesson, "zh")
    assert {**english, "language": "zh"} == chinese


def test_export_lesson_writes_the_file_and_says_its_size(tmp_path):
    out = tmp_path / "lesson.html"
    done = subprocess.run([sys.executable, "-m", "webapp", "export", "lesson", "seed-article", "--lang", "zh", "-o",
                           str(out)], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    size = out.stat().st_size
    assert re.fullmatch(rf"{re.escape(str(out))}: {size:,} bytes \({size / 1e6:.2f} MB\), 27 steps, \d+\.\d s\n",
                        done.stdout)
    assert out.read_text(encoding="utf-8").startswith('<!DOCTYPE html>\n<html lang="zh-CN">')


def test_export_lesson_refuses_an_unknown_lesson(tmp_path):
    done = subprocess.run([sys.executable, "-m", "webapp", "export", "lesson", "no-such-lesson", "-o",
                           str(tmp_path / "x.html")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and not (tmp_path / "x.html").exists()
    assert done.stderr.startswith("no-such-lesson:")


def test_the_pages_lesson_button_refuses_what_it_cannot_export_with_a_message(tmp_path):
    from webapp.app import state
    from webapp.app.cache import open_cache
    from webapp.app.catalog import text
    from webapp.app.export_view import picture, standalone_file
    from webapp.variants import ViewSettings

    cache = open_cache(str(tmp_path))
    key = state.load_sample_into(cache, "seed-article").key
    none = ViewSettings()
    assert standalone_file(cache, None, key, "no-such-type", "pod/default/api-1", "svc/default/web:80", none) == \
        text("export.no_flow")
    assert standalone_file(cache, "no-such-lesson", key, None, None, None, none) == text("export.no_flow")
    assert standalone_file(cache, None, None, "pod-to-service", "pod/default/api-1", "svc/default/web:80", none) == \
        text("export.no_flow")
    assert standalone_file(cache, None, key, "pod-to-service", "pod/default/nope", "svc/default/web:80",
                           none).startswith("The lesson file could not be made: <lesson>:1:1: error: invalid flow: "
                                            "pod/default/nope: pod default/nope not found")
    assert picture(cache, key, "pod-to-service", "pod/default/api-1", None, none, None, None, "x", "png") == \
        text("export.no_flow")
    content, name = standalone_file(cache, None, key, "pod-to-service", "pod/default/api-1", "svc/default/web:80",
                                    none)
    assert name == "k8s-netviz-pod-to-service-flow.html"
    assert content.startswith(b"<!DOCTYPE html>\n<html lang=\"en\">")


def test_the_pages_picture_has_the_presentation_labels_while_the_page_presents(tmp_path):
    """The PNG/SVG buttons send the page's presentation mode: the still then carries the presentation label set
    (fewer, larger labels), as `export image --present` does; otherwise the page's normal labels."""
    from webapp.app import state
    from webapp.app.cache import open_cache
    from webapp.app.export_view import still
    from webapp.engine.flows import trace_flow
    from webapp.export.snapshot import NORMAL, PRESENT, flow_diagram, frames, snapshot
    from webapp.loaders import load_sample
    from webapp.variants import ViewSettings

    cache = open_cache(str(tmp_path))
    key = state.load_sample_into(cache, "seed-article").key
    src, dst = "pod/default/api-1", "svc/default/web:80"
    view = {"expanded": [], "focus": None}
    presenting, stem = still(cache, key, "pod-to-service", src, dst, ViewSettings(), None, view, 6, present=True)
    normal, same_stem = still(cache, key, "pod-to-service", src, dst, ViewSettings(), None, view, 6)
    assert stem == same_stem == "k8s-netviz-pod-to-service-hop7"
    cluster = load_sample("seed-article")
    trace = trace_flow(cluster, src, dst)
    diagram = flow_diagram(cluster, trace)
    all_frames = frames(diagram, trace)
    assert presenting == snapshot(diagram, trace, all_frames, 6, width=1600, height=900, labels=PRESENT)
    assert normal == snapshot(diagram, trace, all_frames, 6, width=1600, height=900, labels=NORMAL)

    def texts(figure):
        return {label for t in figure["data"] if t.get("mode") == "text" for label in t.get("text") or []}

    assert "▣ api +1" in texts(presenting) and "▣ api +1" not in texts(normal)
    assert "<b>node-1</b>  podCIDR 10.244.1.0/24" in texts(normal) - texts(presenting)
