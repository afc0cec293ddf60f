"""A 1,000-node, 30,000-pod kubectl dump (1 pod in 17 not ready), gzipped, uploaded in real headless Chromium
(issue 18): the upload goes through the fast path with its stages and greys the old diagram; the cluster is named
after the file and FROM and TO hold a first valid flow; the overview shows groups, not 1,000 tiles, coloured by
the share of pods not ready (no group red), with a legend and no label under 10 px at 1366×768; searching a pod's
name opens its group and node, zooms to it and offers it as FROM."""

from __future__ import annotations

import gzip
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from helpers import pod_targets

from benchmarks.generate_cluster import write_dump
from webapp.app import state
from webapp.engine.flows import FlowType, candidate_flows
from webapp.figures.overview import SHARE_SCALE, group_of, health_style, node_groups, node_health
from webapp.loaders import load_sources

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODES = 1000
TIMEOUT_MS = 240_000
FILE = "prod-eu-1000.json.gz"

GROUP_FILLS_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const t = gd.data.find(t => t.name === 'targets');
  const out = {};
  t.customdata.forEach((ref, i) => {
    if (!ref.startsWith('group:')) { return; }
    const shape = gd.layout.shapes.find(s => s.x0 <= t.x[i] && t.x[i] <= s.x1 && s.y0 <= t.y[i] && t.y[i] <= s.y1);
    out[ref.slice(6)] = shape ? [shape.fillcolor, shape.line.color, shape.line.width] : null;
  });
  return out;
}"""

SMALL_LABELS_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  return gd.data.filter(t => t.mode === 'text' && t.opacity !== 0 && !String(t.uid || '').startsWith('nvp'))
                .filter(t => t.textfont.size < 10).map(t => [t.textfont.size, t.text[0]]);
}"""


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """The gzipped dump and the cluster the loader makes of it."""
    folder = tmp_path_factory.mktemp("big")
    plain = write_dump(folder / "plain.json", NODES, "json", not_ready_pod_every=17)
    data = plain.read_bytes()
    path = folder / FILE
    path.write_bytes(gzip.compress(data, compresslevel=6))
    loaded = load_sources([("plain.json", data)], max_bytes=100_000_000)
    assert loaded.ok
    return path, loaded.cluster


@pytest.fixture(scope="module")
def uploaded(browser, server_url, dump):
    """Upload once (a fresh page on the default sample); the page's record of it and the cache key."""
    path, cluster = dump
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url)
    page.wait_for_selector('.hop-panel.current[data-hop="q0"]', state="attached")
    flow_type = parse_qs(urlparse(page.url).query)["type"][0]
    page.evaluate("""() => { window.staleSeen = false;
      const frame = document.querySelector('.diagram-frame');
      new MutationObserver(() => { if (frame.classList.contains('stale')) { window.staleSeen = true; } })
        .observe(frame, {attributes: true}); }""")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_function("() => window.netvizUpload.drawnMs !== null || window.netvizUpload.error !== null")
    record = page.evaluate("() => window.netvizUpload")
    facts = {
        "record": record, "stale_seen": page.evaluate("() => window.staleSeen"),
        "stale_now": page.evaluate("() => document.querySelector('.diagram-frame').classList.contains('stale')"),
        "name": page.inner_text("#cluster-name"), "loaded": page.inner_text(".upload-status .loaded"),
        "progress": page.inner_text("#upload-progress"), "flow_type": flow_type,
    }
    page.wait_for_function("() => new URLSearchParams(location.search).get('src')")
    facts["src"], facts["dst"] = page.inner_text("#flow-src"), page.inner_text("#flow-dst")
    facts["key"] = parse_qs(urlparse(page.url).query)["cluster"][0]
    facts["errors"] = errors
    context.close()
    return facts


def test_the_upload_is_gzipped_streams_its_stages_and_greys_the_old_diagram(uploaded, dump):
    _, cluster = dump
    record = uploaded["record"]
    assert record["error"] is None and record["key"] == uploaded["key"]
    assert record["stages"] == ["send", "received", "parse", "read", "check", "store", "draw", "done"]
    assert uploaded["stale_seen"] and not uploaded["stale_now"]
    assert uploaded["progress"] == f"Drawn in {record['drawnMs'] / 1000:.1f} s"
    assert uploaded["loaded"] == (f"Loaded 1 file(s): {len(cluster.pods)} pods on {NODES} nodes, "
                                  f"{len(cluster.services)} services.")
    assert uploaded["errors"] == []


def test_the_cluster_is_named_after_the_file_and_from_to_are_filled(uploaded, dump):
    _, cluster = dump
    assert uploaded["name"] == "prod-eu-1000"
    first = state.flow_outputs(cluster, candidate_flows(cluster), FlowType(uploaded["flow_type"]), None, None)
    assert (uploaded["src"], uploaded["dst"]) == (first["src"], first["dst"])
    assert first["src"] and first["dst"]


def _open(page, server_url, key, **params):
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server_url}/?" + urlencode({"cluster": key, **params}))
    page.wait_for_function("key => { const gd = document.querySelector('#diagram .js-plotly-plot');"
                           " return gd && gd.layout && gd.layout.meta && gd.layout.meta.cluster === key; }",
                           arg=key)
    page.wait_for_timeout(800)  # the labels are fitted after the first draw


def test_the_overview_shows_coloured_groups_a_legend_and_readable_labels(page, server_url, uploaded, dump, artifacts):
    _, cluster = dump
    _open(page, server_url, uploaded["key"])
    fills = page.evaluate(GROUP_FILLS_JS)
    groups = node_groups(cluster)
    assert len(groups) == 30 and sorted(fills) == sorted(g.key for g in groups)
    refs = page.evaluate("() => document.querySelector('#diagram .js-plotly-plot').data"
                         ".find(t => t.name === 'targets').customdata")
    assert not any(r.startswith("node:") for r in refs)  # groups, not 1,000 node tiles
    expected = {g.key: [(style := health_style(node_health(cluster, g.nodes, None))).fill, style.line, style.width]
                for g in groups}
    assert fills == expected
    red = SHARE_SCALE[-1][1]
    assert sum(1 for fill, _, _ in fills.values() if fill == red) < len(groups) / 2
    assert page.locator("#view-legend li").count() == 7
    assert page.inner_text("#view-overview-note") == (
        f"Overview: {NODES} nodes in 30 groups, {len(cluster.pods)} pods. Click a group to open it, then a node to "
        "expand it.")
    assert page.evaluate(SMALL_LABELS_JS) == []
    page.screenshot(path=str(artifacts / "big-1000-overview-1366.png"))
    assert page.console_errors == []


def test_searching_a_pod_opens_its_group_and_node_zooms_and_offers_it_as_from(page, server_url, uploaded, dump,
                                                                            artifacts):
    _, cluster = dump
    _open(page, server_url, uploaded["key"])
    pod = next(p for p in cluster.pods_by_node["worker-0733"] if not p.host_network)
    page.fill("#view-search", pod.name)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('view-search-result').textContent.startsWith('Found ')")
    assert page.inner_text("#view-search-result") == f"Found {pod.key} on worker-0733 ({pod.pod_ip})"
    page.wait_for_function("() => { const r = document.querySelector('#diagram .js-plotly-plot')._fullLayout.xaxis.range;"
                           " return Math.abs(r[1] - r[0] - 24) < 0.01; }")
    assert f"pod:{pod.key}" in pod_targets(page)
    centre = page.evaluate("""key => { const gd = document.querySelector('#diagram .js-plotly-plot');
        const r = gd._fullLayout.xaxis.range; const t = gd.data.find(t => t.name === 'targets');
        return [(r[0] + r[1]) / 2, t.x[t.customdata.indexOf('pod:' + key)]]; }""", pod.key)
    assert centre[0] == pytest.approx(centre[1], abs=0.01)
    group = group_of(cluster, "worker-0733")
    assert parse_qs(urlparse(page.url).query)["open"] == [group.key]
    assert "worker-0733" in parse_qs(urlparse(page.url).query)["expand"][0].split(",")
    page.screenshot(path=str(artifacts / "big-1000-search.png"))
    page.click("#view-search-from")
    page.wait_for_function("src => document.getElementById('flow-src').textContent === src", arg=f"pod/{pod.key}")
    assert page.console_errors == []
