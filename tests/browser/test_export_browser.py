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
    assert page.inner_text("#error-banner") == ""
    assert page.console_errors == []
