"""A 100-node, 3,000-pod kubectl dump in real headless Chromium: upload it, see the overview, animate a
cross-node flow with only its two nodes expanded, expand one more node by clicking its tile; trace pods far
outside the picker's initial lists (from the URL, by searching the pickers, by clicking), and see an invalid pair
explained."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from helpers import click_target, current_hop, marker, pod_targets, wait_ready

from benchmarks.generate_cluster import write_dump
from webapp.app import state
from webapp.engine.flows import FlowType, candidate_flows, trace_flow
from webapp.figures.diagram import PATH_NODE_MAX_PODS
from webapp.loaders import load_paths

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODES = 100
UPLOAD_TIMEOUT_MS = 120_000
EXPAND = "worker-0042"

NODE_TARGETS_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const t = gd.data.find(t => t.name === 'targets');
  return t ? t.customdata.filter(r => r.startsWith('node:')).map(r => r.slice(5)).sort() : [];
}"""

TILE_POINT_JS = """name => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const index = gd.data.findIndex(t => t.name === 'targets');
  const at = gd.data[index].customdata.indexOf('node:' + name);
  const point = gd.querySelector('.scatterlayer').children[index].querySelectorAll('path.point')[at];
  const box = point.getBoundingClientRect();
  return [box.x + box.width / 2, box.y + box.height / 2];
}"""


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """The 100-node dump (seed 0) and the cluster the loader makes of it."""
    path = write_dump(tmp_path_factory.mktemp("scale") / f"cluster-{NODES}.yaml", NODES, "yaml")
    loaded = load_paths([path])
    assert loaded.ok
    return path, loaded.cluster


def _pod_node(cluster, spec: str) -> str:
    """The node of a flow end given as `pod/<ns>/<name>[:port]`."""
    return cluster.pod_by_key[spec.split("/", 1)[1].split(":")[0]].node


def _drawn_pods_of(cluster, nodes) -> list[str]:
    return sorted(f"pod:{p.key}" for n in nodes for p in cluster.pods_by_node[n])


def _drawn_path_pods(cluster, src, dst) -> list[str]:
    """A node on the flow's path with more than PATH_NODE_MAX_PODS pods draws only the flow's pods (and a
    `+N more pods` box): here the two ends of a pod-to-pod flow."""
    ends = {spec.split("/", 1)[1].split(":")[0] for spec in (src, dst)}
    assert all(len(cluster.pods_by_node[cluster.pod_by_key[end].node]) > PATH_NODE_MAX_PODS for end in ends)
    return sorted(f"pod:{key}" for key in ends)


def _upload(page, server_url, path, cluster) -> str:
    """Upload the dump over the default sample's playing flow; the cache key of the upload."""
    page.set_default_timeout(UPLOAD_TIMEOUT_MS)
    page.goto(server_url)
    wait_ready(page)
    page.flow_type_before = parse_qs(urlparse(page.url).query)["type"][0]
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector(".upload-status .loaded")
    assert page.inner_text(".upload-status .loaded") == (
        f"Loaded 1 file(s): {NODES * 30} pods on {NODES} nodes, {len(cluster.services)} services."
    )
    page.wait_for_function("() => new URLSearchParams(location.search).get('cluster')")
    return parse_qs(urlparse(page.url).query)["cluster"][0]


def test_hundred_nodes_overview_expand_and_cross_node_flow(page, server_url, dump, artifacts):
    path, cluster = dump
    key = _upload(page, server_url, path, cluster)
    # FROM and TO hold the first valid flow of the type that was on screen, as after loading a sample; its trace
    # is ready to play (no packet is left over from the sample's flow: the player sits on the new flow's first hop).
    first = state.flow_outputs(cluster, candidate_flows(cluster), FlowType(page.flow_type_before), None, None)
    page.wait_for_function("([src, dst]) => document.getElementById('flow-src').textContent === src"
                           " && document.getElementById('flow-dst').textContent === dst", arg=[first["src"], first["dst"]])
    wait_ready(page)
    assert page.inner_text("#verdict") == "Delivered"
    assert page.inner_text("#cluster-name") == f"cluster-{NODES}"

    # A flow between pods on two different nodes, neither of them the node expanded later.
    src, dst = next(
        (s, d) for s, d in candidate_flows(cluster)["pod-to-pod-cross-node"]
        if EXPAND not in (_pod_node(cluster, s), _pod_node(cluster, d))
    )
    path_nodes = {_pod_node(cluster, src), _pod_node(cluster, dst)}
    assert len(path_nodes) == 2
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, "type": "pod-to-pod-cross-node", "src": src, "dst": dst}))
    wait_ready(page)

    # The overview: every node is drawn (and clickable), but only the path's two nodes show their pods.
    assert page.inner_text("#view-overview-note") == (
        f"Overview: {NODES} nodes, {NODES * 30} pods. Click a node to expand it."
    )
    # (each path node is a target twice: its box and its `+N more pods` box, which expands it)
    assert page.evaluate(NODE_TARGETS_JS) == sorted([n.name for n in cluster.nodes] + list(path_nodes))
    assert pod_targets(page) == _drawn_path_pods(cluster, src, dst)
    hops = trace_flow(cluster, src, dst).to_dict()["hops"]
    assert page.locator("button[data-hop^='q']").count() == len(hops)

    # The packet crosses between the two nodes.
    start = marker(page)
    page.click("#player-play")
    page.wait_for_timeout(1_500)
    assert marker(page) != start and current_hop(page) != "q0"
    page.screenshot(path=str(artifacts / "scale-100-cross-node-flow.png"))

    # Clicking a tile expands that node into its 30 pods, the flow's nodes staying drawn with the flow's pods;
    # the player stays on the hop it was on (the trace is the same, only the view changed).
    page.click('button[data-hop="q3"]')
    page.wait_for_selector('.hop-panel.current[data-hop="q3"]', state="attached")
    x, y = page.evaluate(TILE_POINT_JS, EXPAND)
    page.mouse.click(x, y)
    expected = sorted(_drawn_path_pods(cluster, src, dst) + _drawn_pods_of(cluster, {EXPAND}))
    page.wait_for_function(
        """n => { const gd = document.querySelector('#diagram .js-plotly-plot');
                  const t = gd.data.find(t => t.name === 'targets');
                  return t && t.customdata.filter(r => r.startsWith('pod:')).length === n; }""",
        arg=len(expected),
    )
    assert pod_targets(page) == expected
    page.wait_for_timeout(500)
    assert current_hop(page) == "q3"
    assert len(cluster.pods_by_node[EXPAND]) == 30
    page.screenshot(path=str(artifacts / "scale-100-expanded.png"))
    assert page.console_errors == []


FAR_SRC = "pod/team-00/app-00260-rggtwcvnk4-9ms79"
"""The first application pod on worker-0090: far outside the picker's initial lists (the first 64 pods)."""
FAR_DST = "pod/team-00/app-00140-cnz8h7sq4j-dzckp:8080"
"""The first application pod on worker-0050, on its http port."""
CROSS = "pod-to-pod-cross-node"


def _hops_of(page, cluster, src, dst) -> int:
    """Wait until the page shows the trace of (src, dst); its request hop count."""
    hops = len(trace_flow(cluster, src, dst).to_dict()["hops"])
    page.wait_for_function(
        """([src, dst, n]) => document.getElementById('flow-src').textContent === src
             && document.getElementById('flow-dst').textContent === dst
             && document.querySelectorAll("button[data-hop^='q']").length === n""", arg=[src, dst, hops])
    return hops


def test_any_two_pods_trace_at_scale(page, server_url, dump, artifacts):
    path, cluster = dump
    specs = {spec for pairs in candidate_flows(cluster).values() for pair in pairs for spec in pair}
    assert FAR_SRC not in specs and FAR_DST not in specs
    assert (_pod_node(cluster, FAR_SRC), _pod_node(cluster, FAR_DST)) == ("worker-0090", "worker-0050")
    key = _upload(page, server_url, path, cluster)

    # From the URL: the pair is traced and plays, only its two nodes expanded.
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, "type": CROSS, "src": FAR_SRC, "dst": FAR_DST}))
    wait_ready(page)
    assert _hops_of(page, cluster, FAR_SRC, FAR_DST) == 19
    assert page.inner_text("#verdict") == "Delivered"
    assert pod_targets(page) == _drawn_path_pods(cluster, FAR_SRC, FAR_DST)
    start = marker(page)
    page.click("#player-play")
    page.wait_for_timeout(1_500)
    assert marker(page) != start and current_hop(page) != "q0"
    page.screenshot(path=str(artifacts / "scale-100-far-pods-flow.png"))

    # Searching TO by a node's name lists that node's pods (checked by the engine) and picking one traces it.
    page.click("#flow-dst")
    page.fill("input.dash-dropdown-search", "worker-0070")
    on_0070 = [f"pod/{p.key}:8080" for p in cluster.pods_by_node["worker-0070"] if not p.host_network]
    page.wait_for_function(
        """want => { const values = Array.from(document.querySelectorAll('.dash-dropdown-option input'), i => i.value);
                     return values.includes(want); }""", arg=on_0070[0])
    listed = page.eval_on_selector_all(".dash-dropdown-option input", "els => els.map(e => e.value)")
    assert sorted(v for v in listed if v != FAR_DST) == sorted(on_0070) and len(on_0070) == 29
    page.click(f".dash-dropdown-option:has(input[value='{on_0070[0]}'])")
    _hops_of(page, cluster, FAR_SRC, on_0070[0])
    assert page.inner_text("#verdict") == "Delivered"

    # Clicking a pod on an expanded node far from the lists makes it the destination.
    target = next(p for p in cluster.pods_by_node["worker-0030"] if not p.host_network)
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, "type": CROSS, "src": FAR_SRC, "dst": FAR_DST,
                                              "expand": "worker-0030"}))
    wait_ready(page)
    click_target(page, f"pod:{target.key}")
    _hops_of(page, cluster, FAR_SRC, f"pod/{target.key}:8080")

    # An invalid pair is kept in the picker and explained, not silently dropped.
    bad = "pod/team-00/no-such-pod"
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, "type": CROSS, "src": bad, "dst": FAR_DST}))
    page.wait_for_selector("#verdict.error")
    assert page.inner_text("#verdict") == (
        f"Could not trace {bad} → {FAR_DST}: {bad}: pod team-00/no-such-pod not found")
    assert page.inner_text("#flow-src") == bad
    assert page.console_errors == []
