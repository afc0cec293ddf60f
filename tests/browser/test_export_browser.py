"""The page's export buttons in real headless Chromium: the trace as JSON (saved by the browser) and the diagram at
the current hop as PNG and SVG (made on the server by kaleido, the still of `k8s-netviz export image`)."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

import pytest
from helpers import wait_ready

from webapp.engine.flows import trace_flow
from webapp.export.snapshot import COLORS, flow_diagram, frames, snapshot
from webapp.loaders import load_sample

pytestmark = pytest.mark.browser

SRC, DST = "pod/default/api-1", "svc/default/web:80"


@pytest.fixture
def on_the_dnat(page, server_url):
    """The seed article's pod-to-Service flow, the player on hop 7 (the DNAT)."""
    query = urlencode({"sample": "seed-article", "type": "pod-to-service", "src": SRC, "dst": DST, "step": "6"})
    page.goto(f"{server_url}/?{query}")
    wait_ready(page, "q6")
    return page


def test_trace_json_saves_the_trace_the_page_plays(on_the_dnat):
    page = on_the_dnat
    with page.expect_download() as download:
        page.click("#export-json")
    assert download.value.suggested_filename == "k8s-netviz-pod-to-service-trace.json"
    saved = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert saved == trace_flow(load_sample("seed-article"), SRC, DST).to_dict()
    assert page.console_errors == []


def test_png_and_svg_show_the_current_hop(on_the_dnat):
    from PIL import Image

    page = on_the_dnat
    with page.expect_download(timeout=90_000) as download:
        page.click("#export-png")
    assert download.value.suggested_filename == "k8s-netviz-pod-to-service-hop7.png"
    image = Image.open(download.value.path()).convert("RGB")
    assert image.size == (1600, 900)
    cluster = load_sample("seed-article")
    trace = trace_flow(cluster, SRC, DST)
    diagram = flow_diagram(cluster, trace)
    all_frames = frames(diagram, trace)
    figure = snapshot(diagram, trace, all_frames, 6, width=1600, height=900)
    layout = figure["layout"]
    margin, (x0, x1), (y0, y1) = layout["margin"], layout["xaxis"]["range"], layout["yaxis"]["range"]
    width, height = 1600 - margin["l"] - margin["r"], 900 - margin["t"] - margin["b"]
    ppu = min(width / (x1 - x0), height / (y1 - y0))
    x, y = all_frames[6].point
    pixel = (round(margin["l"] + width / 2 + (x - (x0 + x1) / 2) * ppu),
             round(margin["t"] + height / 2 - (y - (y0 + y1) / 2) * ppu))
    violet = tuple(int(COLORS["request_nat"][i:i + 2], 16) for i in (1, 3, 5))
    assert image.getpixel(pixel) == violet  # the DNAT's violet diamond sits on the hop

    with page.expect_download(timeout=90_000) as download:
        page.click("#export-svg")
    assert download.value.suggested_filename == "k8s-netviz-pod-to-service-hop7.svg"
    svg = open(download.value.path(), encoding="utf-8").read()
    assert svg.startswith("<svg ") and 'width="1600" height="900"' in svg
    assert "Hop 7 of 12 · iptables in host/node-1" in svg
    assert "podCIDR 10.244.1.0/24" in svg and "▣ api +1" not in svg  # the page's normal labels
    assert page.inner_text("#error-banner") == ""
    assert page.console_errors == []


def test_the_picture_follows_the_pages_presentation_mode(on_the_dnat):
    """In presentation mode the SVG has the presentation labels (the pods' `▣ api +1`, no `podCIDR`), and after
    leaving it the normal ones again."""
    page = on_the_dnat
    page.keyboard.press("p")
    page.wait_for_selector("body.presenting")
    with page.expect_download(timeout=90_000) as download:
        page.click("#export-svg")
    assert download.value.suggested_filename == "k8s-netviz-pod-to-service-hop7.svg"
    svg = open(download.value.path(), encoding="utf-8").read()
    assert "Hop 7 of 12 · iptables in host/node-1" in svg
    assert "▣ api +1" in svg and "podCIDR" not in svg
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.classList.contains('presenting')")
    with page.expect_download(timeout=90_000) as download:
        page.click("#export-svg")
    svg = open(download.value.path(), encoding="utf-8").read()
    assert "podCIDR 10.244.1.0/24" in svg and "▣ api +1" not in svg
    assert page.inner_text("#error-banner") == ""
    assert page.console_errors == []


def test_lesson_saves_the_open_lesson_or_the_flow_as_a_standalone_player(on_the_dnat, server_url, browser, tmp_path):
    page = on_the_dnat
    with page.expect_download(timeout=90_000) as download:
        page.click("#export-lesson")
    assert download.value.suggested_filename == "k8s-netviz-pod-to-service-flow.html"
    flow_file = tmp_path / "flow.html"  # the download's own file has no extension: a browser would show it as text
    download.value.save_as(flow_file)
    page.goto(f"{server_url}/?lesson=seed-article&step=2")
    page.wait_for_selector(".lesson-counter")
    with page.expect_download(timeout=120_000) as download:
        page.click("#export-lesson")
    assert download.value.suggested_filename == "k8s-netviz-lesson-seed-article.html"
    lesson_file = download.value.path()
    text = open(lesson_file, encoding="utf-8").read()
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">') and len(text.encode()) <= 3_000_000
    assert page.console_errors == []

    offline = browser.new_context(viewport={"width": 1366, "height": 768})
    offline.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    player = offline.new_page()
    errors = []
    player.on("pageerror", lambda error: errors.append(str(error)))
    player.goto(flow_file.as_uri())
    player.wait_for_selector("body[data-ready='1']")
    assert player.inner_text(".lesson-counter") == "1 / 1"
    assert player.inner_text(".lesson-title") == f"pod-to-service: {SRC} → {DST}"
    player.wait_for_selector('.hop-panel.current[data-hop="q0"]', state="attached")
    offline.close()
    assert errors == []
