"""A 100-node, 3,000-pod kubectl dump in real headless Chromium: upload it, see the overview, animate a
cross-node flow with only its two nodes expanded, expand one more node by clicking its tile."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from helpers import current_hop, marker, pod_targets, wait_ready

from benchmarks.generate_cluster import write_dump
from webapp.engine.flows import candidate_flows, trace_flow
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


def test_hundred_nodes_overview_expand_and_cross_node_flow(page, server_url, dump, artifacts):
    path, cluster = dump
    page.set_default_timeout(UPLOAD_TIMEOUT_MS)
    page.goto(server_url)
    wait_ready(page)

    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector(".upload-status .loaded")
    assert page.inner_text(".upload-status .loaded") == (
        f"Loaded 1 file(s): {NODES * 30} pods on {NODES} nodes, {len(cluster.services)} services."
    )
    page.wait_for_function("() => new URLSearchParams(location.search).get('cluster')")
    key = parse_qs(urlparse(page.url).query)["cluster"][0]

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
    assert page.evaluate(NODE_TARGETS_JS) == sorted(n.name for n in cluster.nodes)
    assert pod_targets(page) == _drawn_pods_of(cluster, path_nodes)
    hops = trace_flow(cluster, src, dst).to_dict()["hops"]
    assert page.locator("button[data-hop^='q']").count() == len(hops)

    # The packet crosses between the two nodes.
    start = marker(page)
    page.click("#player-play")
    page.wait_for_timeout(1_500)
    assert marker(page) != start and current_hop(page) != "q0"
    page.screenshot(path=str(artifacts / "scale-100-cross-node-flow.png"))

    # Clicking a tile expands that node into its 30 pods, the flow's nodes staying expanded.
    x, y = page.evaluate(TILE_POINT_JS, EXPAND)
    page.mouse.click(x, y)
    expected = _drawn_pods_of(cluster, path_nodes | {EXPAND})
    page.wait_for_function(
        """n => { const gd = document.querySelector('#diagram .js-plotly-plot');
                  const t = gd.data.find(t => t.name === 'targets');
                  return t && t.customdata.filter(r => r.startsWith('pod:')).length === n; }""",
        arg=len(expected),
    )
    assert pod_targets(page) == expected
    assert len(cluster.pods_by_node[EXPAND]) == 30
    page.screenshot(path=str(artifacts / "scale-100-expanded.png"))
    assert page.console_errors == []
