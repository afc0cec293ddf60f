"""The web app in real headless Chromium: samples load cleanly, uploads replace (or keep) the cluster, the packet
marker moves for every communication type, keys step the inspector, the URL restores the state."""

from __future__ import annotations

import re
import time

from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers import (DRAWN_LABEL_JS, PACKET_STYLE_JS, PIXELS_PER_UNIT_JS, click_target, current_hop, label_size, marker,
                     pod_targets, wait_ready)

from webapp.engine.flows import candidate_flows, trace_flow
from webapp.loaders import list_samples, load_sample

pytestmark = pytest.mark.browser

GUESTBOOK = Path(__file__).resolve().parents[2] / "samples" / "guestbook" / "guestbook-all-in-one.yaml"
"""kubernetes/examples' guestbook, as public manifests a user uploads (copied into samples/ with its licence)."""
SEED_TYPES = ["container-to-container", "pod-to-pod-same-node", "pod-to-pod-cross-node", "pod-to-service",
              "nodeport", "loadbalancer", "externalname", "externalips", "pod-to-external"]


def test_every_sample_loads_without_console_errors(page, server_url, artifacts):
    for sample in list_samples():
        page.goto(f"{server_url}/?sample={sample.name}")
        wait_ready(page)
        page.screenshot(path=str(artifacts / f"sample-{sample.name}.png"))
        cluster = load_sample(sample.name)
        page.wait_for_function("name => document.getElementById('cluster-name').textContent === name", arg=cluster.name)
        assert pod_targets(page) == sorted(f"pod:{p.key}" for p in cluster.pods) or len(cluster.nodes) >= 5
    assert page.console_errors == []


INTERESTING = {"encapsulate", "dnat", "snat", "masquerade", "resolve", "proxy"}


def _interesting_hop(hops: list[dict]) -> int:
    """The first hop that changes the headers (or leaves the node), where a mid-animation screenshot says most."""
    for index, hop in enumerate(hops[1:], 1):
        if hop["action"] in INTERESTING or hop["kind"] in ("loadbalancer", "wire"):
            return index
    return len(hops) // 2


@pytest.mark.parametrize("flow_type", SEED_TYPES)
def test_play_moves_the_packet_marker(page, server_url, artifacts, flow_type):
    cluster = load_sample("seed-article")
    src, dst = candidate_flows(cluster)[flow_type][0]
    page.goto(f"{server_url}/?" + urlencode({"sample": "seed-article", "type": flow_type, "src": src, "dst": dst}))
    wait_ready(page)
    start = marker(page)
    page.click("#player-play")
    page.wait_for_timeout(1_500)
    moved = marker(page)
    assert moved != start and current_hop(page) != "q0"
    # Mid-animation picture: from just before the hop that changes the headers, play on for a moment.
    hop = _interesting_hop(trace_flow(cluster, src, dst).to_dict()["hops"])
    hop = page.evaluate("""k => { const f = window.netvizPlayer.frames;
        for (let i = k - 1; i < f.length - 1; i++) { if (f[i].x !== f[i + 1].x || f[i].y !== f[i + 1].y) return i; }
        return k - 1; }""", hop)
    page.click(f'button[data-hop="q{hop}"]')
    before = marker(page)
    page.click("#player-play")
    page.wait_for_timeout(700)
    gliding = marker(page)
    page.screenshot(path=str(artifacts / f"flow-{flow_type}.png"))
    assert gliding != before
    assert page.console_errors == []
    assert page.console_errors == []


def test_keyboard_steps_the_inspector_and_p_presents(page, server_url):
    page.goto(f"{server_url}/?sample=seed-article&type=pod-to-pod-cross-node")
    wait_ready(page)
    first_caption = page.inner_text(".hop-caption.current")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('.hop-panel.current[data-hop="q1"]', state="attached")
    assert page.inner_text(".hop-caption.current") != first_caption
    assert page.inner_text(".hop-panel.current .where").startswith("route · lookup at eth0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    assert current_hop(page) == "q1"
    normal = label_size(page, "<b>api-1</b>")
    page.keyboard.press("p")
    assert "presenting" in page.evaluate("document.body.className")
    assert not page.is_visible(".side") and page.is_visible("#caption") and page.is_visible("#diagram")
    assert not page.is_visible(".header") and page.is_visible("#flow-type")
    # The diagram gets the header's and the side panel's room, and its labels grow with it.
    page.wait_for_function("size => document.querySelector('#diagram .js-plotly-plot').data.find("
                           "t => t.mode === 'text' && t.text.includes('<b>api-1</b>')).textfont.size > size", arg=normal)
    assert label_size(page, "<b>api-1</b>") == pytest.approx(11 * page.evaluate(PIXELS_PER_UNIT_JS) / 34, abs=0.15)
    page.keyboard.press("p")
    assert page.is_visible(".side")
    page.wait_for_function("size => document.querySelector('#diagram .js-plotly-plot').data.find("
                           "t => t.mode === 'text' && t.text.includes('<b>api-1</b>')).textfont.size === size",
                           arg=normal)
    assert page.console_errors == []


def test_url_restores_flow_settings_and_step(page, server_url):
    src, dst = next(pair for pair in candidate_flows(load_sample("seed-article"))["pod-to-service"]
                    if pair[1] == "svc/default/api-lb:80")
    query = urlencode({"sample": "seed-article", "type": "pod-to-service", "src": src, "dst": dst,
                       "mode": "ipvs", "step": "5"})
    page.goto(f"{server_url}/?{query}")
    wait_ready(page, "q5")
    assert page.inner_text(".hop-panel.current .where").startswith("ipvs · ")
    assert "ipvs" in page.inner_text("#setting-mode")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '6'")
    page.reload()
    wait_ready(page, "q6")
    params = page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")
    assert params == {"sample": "seed-article", "type": "pod-to-service", "src": src, "dst": dst,
                      "mode": "ipvs", "step": "6"}
    assert page.console_errors == []


def test_upload_replaces_the_diagram_and_a_bad_one_keeps_it(page, server_url, tmp_path):
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    page.set_input_files("#upload input[type=file]", str(GUESTBOOK))
    page.wait_for_selector(".upload-status .loaded")
    wait_ready(page)
    deadline = time.monotonic() + 15  # the status is written before the new figure is drawn
    while "pod:default/api-1" in pod_targets(page) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    pods = pod_targets(page)
    assert "pod:default/redis-master-1" in pods or any(p.startswith("pod:default/frontend") for p in pods)
    assert "pod:default/api-1" not in pods
    name = page.inner_text("#cluster-name")
    assert "cluster=" in page.url
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nspec: [unclosed\n")
    page.set_input_files("#upload input[type=file]", str(bad))
    page.wait_for_selector(".upload-status .problem.error")
    assert page.inner_text(".upload-status .problem.error code") == "bad.yaml:4"
    assert page.inner_text(".upload-status .kept") == "The cluster on screen was kept as it was."
    assert page.inner_text("#cluster-name") == name
    assert pod_targets(page) == pods
    assert page.console_errors == []


def test_search_finds_a_pod_by_ip_and_centres_it(page, server_url):
    cluster = load_sample("seed-article")
    pod = cluster.pod_by_key["default/db-1"]
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    page.fill("#view-search", str(pod.pod_ip))
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('view-search-result').textContent.startsWith('Found ')")
    assert page.inner_text("#view-search-result") == f"Found default/db-1 on {pod.node} ({pod.pod_ip})"
    # The result line and the re-centred figure come from two callbacks: wait for the figure (the range is ±12 units).
    page.wait_for_function("() => { const r = document.querySelector('#diagram .js-plotly-plot')._fullLayout.xaxis.range;"
                           " return Math.abs(r[1] - r[0] - 24) < 0.01; }")
    centre = page.evaluate("""() => { const gd = document.querySelector('#diagram .js-plotly-plot');
        const r = gd._fullLayout.xaxis.range; const t = gd.data.find(t => t.name === 'targets');
        const i = t.customdata.indexOf('pod:default/db-1');
        return [(r[0] + r[1]) / 2, t.x[i]]; }""")
    assert centre[0] == pytest.approx(centre[1], abs=0.01)
    assert page.console_errors == []


def test_a_failing_callback_shows_a_message_and_the_page_stays(page, server_url, monkeypatch):
    from webapp.app import state

    def broken(cluster, query):
        raise RuntimeError("search index exploded")

    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    pods = pod_targets(page)
    monkeypatch.setattr(state, "find_pod", broken)  # the server runs in this process, in a thread
    page.fill("#view-search", "web")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error-banner:not(:empty)")
    banner = page.inner_text("#error-banner")
    reference = re.fullmatch(r"Internal error \(reference ([0-9a-f]{8})\): a bug in k8s-netviz, not a problem of your "
                             r"input\. The page kept its last good state; please report it with the reference\.",
                             banner)
    assert reference is not None, banner
    assert "RuntimeError" not in banner and "exploded" not in banner  # no Python internals on the page
    assert pod_targets(page) == pods and page.is_visible("#diagram")


def test_clicking_a_pod_picks_it_and_a_dead_backend_stops_the_packet(page, server_url):
    page.goto(f"{server_url}/?sample=seed-article&type=pod-to-pod-cross-node&src=pod/default/api-1")
    wait_ready(page)
    click_target(page, "pod:default/db-1")
    page.wait_for_function("() => new URLSearchParams(location.search).get('dst') === 'pod/default/db-1:5432'")
    assert "pod/default/db-1:5432" in page.inner_text("#flow-dst")
    # Both api-lb backends marked down: the request dies at the chosen backend, red ✖ with the reason.
    page.goto(f"{server_url}/?sample=seed-article&type=pod-to-service&src=pod/default/web-1"
              "&dst=svc/default/api-lb:80&down=default/api-1,default/api-2")
    wait_ready(page)
    assert page.inner_text("#verdict").startswith("Dropped: backend pod default/api-")
    last = page.evaluate("window.netvizPlayer.frames.length") - 1
    for _ in range(last):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'.hop-panel.current[data-hop="q{last}"]', state="attached")
    style = page.evaluate(PACKET_STYLE_JS)
    assert style["symbol"] == "x" and style["color"] == "#dc2626"
    assert style["text"].startswith("<b>✖ backend pod default/api-")
    # The label is the reason's first clause cut at a word; near the left edge it grows to the right.
    assert style["text"] == "<b>✖ backend pod default/api-1 does not answer but is…</b>"
    assert style["position"] == "top right"
    page.keyboard.press("ArrowRight")  # nothing after death: the reply never starts
    assert current_hop(page) == f"q{last}"
    assert page.console_errors == []


NO_ENDPOINTS = """name: no-endpoints
network: {overlay: flannel-host-gw, bridge: cni0, podCIDR: 10.244.0.0/16, nodeNetwork: 192.168.0.0/24}
nodes:
  - name: node-1
    pods:
      - {name: client-1, containers: [{name: curl, image: curlimages/curl}]}
  - name: node-2
    pods:
      - {name: web-2, labels: {app: web}, containers: [{name: nginx, ports: [{port: 80}]}]}
services:
  - {name: orders, selector: {app: orders}, ports: [{port: 8080}]}
"""


def test_a_rejected_service_stops_with_a_readable_label_and_a_full_width_caption(page, server_url, tmp_path):
    source = tmp_path / "no-endpoints.yaml"
    source.write_text(NO_ENDPOINTS)
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    page.set_input_files("#upload input[type=file]", str(source))
    page.wait_for_selector(".upload-status .loaded")
    key = page.evaluate("new URLSearchParams(location.search).get('cluster')")
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, "type": "pod-to-service", "src": "pod/default/client-1",
                                             "dst": "svc/default/orders:8080"}))
    wait_ready(page)
    reason = ("KUBE-SERVICES rejects it (icmp-port-unreachable): service default/orders has no ready endpoints — "
              "no ready pod matches its selector app=orders")
    assert page.inner_text("#verdict") == f"Rejected: {reason}"
    assert page.get_attribute("#verdict", "title") == f"Rejected: {reason}"
    last = page.evaluate("window.netvizPlayer.frames.length") - 1
    height = page.evaluate("document.querySelector('#diagram .js-plotly-plot')._fullLayout.height")
    for index in range(1, last + 1):
        page.keyboard.press("ArrowRight")
        page.wait_for_selector(f'.hop-panel.current[data-hop="q{index}"]', state="attached")
        # The caption row has a fixed height: a longer caption never shrinks (and re-lays out) the diagram.
        assert page.evaluate("document.querySelector('#diagram .js-plotly-plot')._fullLayout.height") == height
    style = page.evaluate(PACKET_STYLE_JS)
    assert style == {"symbol": "x", "color": "#dc2626", "position": "top right",
                     "text": "<b>✖ KUBE-SERVICES rejects it (icmp-port-unreachable)</b>"}
    # Said once (issue 10: the drop verdict was printed twice): the verdict line has the reason in full, so the
    # dropping hop's caption under it is left empty.
    assert page.inner_text(".hop-caption.current") == ""
    assert page.inner_text(".caption-row").count(reason) == 1
    # The verdict takes its own line(s); the caption under it gets the stage's whole width.
    row, caption = page.evaluate("""() => [document.querySelector('.caption-row').getBoundingClientRect().width,
        document.getElementById('caption').getBoundingClientRect().width]""")
    assert caption == pytest.approx(row, abs=1)
    assert page.console_errors == []


def test_a_1920_screen_gets_a_taller_diagram_with_larger_labels(browser, server_url):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        page.goto(f"{server_url}/?sample=seed-article&type=pod-to-pod-cross-node")
        wait_ready(page)
        sizes = page.evaluate("""() => [document.querySelector('#diagram .js-plotly-plot')._fullLayout.height,
            document.scrollingElement.scrollHeight]""")
        assert sizes[0] >= 700 and sizes[1] == 1080  # the diagram takes the room; the page itself does not scroll
        # api-1's title is LABEL (11 px) drawn at the plot's real scale: 11 × (pixels per unit / 34), at most 2×.
        # (The figure sends 10.6 px = 11 × its font_scale 0.9627; the browser divides that back out, ±0.1 rounding.)
        scale = min(2.0, page.evaluate(PIXELS_PER_UNIT_JS) / 34)
        page.wait_for_function("() => document.querySelector('#diagram .js-plotly-plot').data.find("
                               "t => t.mode === 'text' && t.text.includes('<b>api-1</b>')).textfont.size > 12")
        assert label_size(page, "<b>api-1</b>") == pytest.approx(11 * scale, abs=0.15)
        assert 11 * scale > 15
    finally:
        context.close()


def test_the_packet_label_is_drawn_every_time_its_hop_is_shown(page, server_url):
    """Pod to external: hop 6 is POSTROUTING's MASQUERADE. Coming back to it from any hop draws the label again."""
    page.goto(f"{server_url}/?sample=seed-article&type=pod-to-external&src=pod/default/api-1&dst=203.0.113.10:443")
    wait_ready(page)
    for hop, drawn in [("q1", " "), ("q6", "MASQUERADE"), ("q7", " "), ("q6", "MASQUERADE"), ("q0", " "),
                       ("q6", "MASQUERADE")]:
        page.click(f'button[data-hop="{hop}"]')
        page.wait_for_selector(f'.hop-panel.current[data-hop="{hop}"]', state="attached")
        assert page.evaluate(DRAWN_LABEL_JS) == drawn, hop
    assert page.console_errors == []
