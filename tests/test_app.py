"""The Dash app without a browser: layout ids, offline serving, the diagram-plus-trace callback, loading
samples and uploads into the cache, flow picking, search."""

import base64
import re

import pytest
from dash import html

from webapp.app import create_app
from webapp.app import state
from webapp.app.cache import open_cache
from webapp.app.callbacks import _status, draw_view
from webapp.app.inspector import hop_panel, nat_badge, render_trace
from webapp.app.layout import GRAPH_CONFIG, Id
from webapp.loaders import load_sample
from webapp.variants import ViewSettings


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return open_cache(str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def app(cache):
    return create_app(cache=cache)


@pytest.fixture(scope="module")
def seed_key(cache):
    return state.load_sample_into(cache, "seed-article").key


def walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from walk(child)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from walk(children)


def test_every_declared_id_is_in_the_layout_exactly_once(app):
    ids = [getattr(c, "id", None) for c in walk(app.layout())]
    ids = [i for i in ids if i]
    assert len(ids) == len(set(ids))
    assert set(Id) <= set(ids)


def test_page_and_scripts_are_served_locally(app):
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "/assets/netviz.js" in page and "/assets/netviz.css" in page
    assert app.config.serve_locally is True
    assert GRAPH_CONFIG["displaylogo"] is False and GRAPH_CONFIG["showSendToCloud"] is False
    assert GRAPH_CONFIG["showEditInChartStudio"] is False and GRAPH_CONFIG["showLink"] is False


def test_sample_key_is_the_hash_of_its_files_and_stable(cache, seed_key):
    assert state.load_sample_into(cache, "seed-article").key == seed_key
    assert cache.get(seed_key) == load_sample("seed-article")
    assert state.load_sample_into(cache, "no-such-sample").key is None


def test_draw_view_cross_node(cache, seed_key):
    out = draw_view(cache, seed_key, "pod-to-pod-cross-node", "pod/default/api-1", "pod/default/api-2:8080",
                    ViewSettings(), None, None)
    assert out["verdict"] == "Delivered" and out["verdict_class"] == "verdict delivered"
    assert out["badge"] == "No NAT: pod addresses seen end to end (the seed's principles hold)"
    trace = out["playback"]["trace"]
    assert len(out["playback"]["points"]) == len(trace["hops"]) == 19
    assert out["playback"]["trace_count"] == len(out["figure"]["data"])
    assert len(out["caption"]) == len(trace["hops"]) + len(trace["reply"])
    assert out["banner"] == ""


def test_draw_view_service_shows_the_nat(cache, seed_key):
    out = draw_view(cache, seed_key, "pod-to-service", "pod/default/web-1", "svc/default/api-lb:80",
                    ViewSettings(), None, None)
    cluster = cache.get(seed_key)
    service = cluster.service_by_key["default/api-lb"]
    backends = {ep.address for ep in cluster.endpoints_by_service["default/api-lb"]}
    assert out["badge_class"] == "badge nat"
    assert out["badge"] == "NAT on the way: 1 address change(s), not the seed's no-NAT model"
    prefix = f"dst {service.cluster_ip}:80 → "
    assert out["badge_title"].startswith(prefix) and out["badge_title"][len(prefix):] in backends


def test_draw_view_with_a_dead_backend(cache, seed_key):
    out = draw_view(cache, seed_key, "pod-to-service", "pod/default/web-1", "svc/default/api-lb:80",
                    ViewSettings(down_pods=frozenset({"default/api-1", "default/api-2"})), None, None)
    assert out["verdict_class"] == "verdict dropped"
    assert out["verdict"].startswith("Dropped: backend pod default/api-1 does not answer")
    assert out["verdict_title"] == out["verdict"]  # the line is clamped to two lines on the page; the tooltip has all


def test_the_diagram_sits_in_a_frame_that_gives_it_its_height(app):
    """dcc.Graph sets its own inline height; the page's flex layout sizes `.diagram-frame`, the graph fills it."""
    frames = [c for c in walk(app.layout()) if "diagram-frame" in (getattr(c, "className", None) or "")]
    assert len(frames) == 1
    graph, *views = frames[0].children  # the views (mode comparison …) open over the diagram, in the same frame
    assert graph.id == Id.DIAGRAM and graph.style == {"height": "100%"}
    assert [(v.id, v.className) for v in views] == [("matrix-panel", "view-overlay"), ("modes-panel", "view-overlay")]


def test_draw_view_bad_spec_is_a_message_not_a_crash(cache, seed_key):
    out = draw_view(cache, seed_key, "pod-to-pod-cross-node", "pod/default/ghost", "pod/default/api-2:8080",
                    ViewSettings(), None, None)
    assert out["verdict_class"] == "verdict error"
    assert out["verdict"].startswith("Could not trace pod/default/ghost → pod/default/api-2:8080: ")
    assert out["playback"] is None and out["figure"]["data"]


def test_draw_view_unknown_key(cache):
    out = draw_view(cache, "f" * 64, None, None, None, ViewSettings(), None, None)
    assert out["banner"] == "That cluster is no longer in the server cache; load it again."


def test_inspector_highlights_nat_and_outer_headers(cache, seed_key):
    cluster = cache.get(seed_key)
    trace = state.trace(cluster, "pod/default/web-1", "svc/default/api-lb:80")
    dnat = next(i for i, h in enumerate(trace.hops) if h.action == "dnat")
    panel = hop_panel(trace.hops[dnat], trace.hops[dnat - 1], f"q{dnat}")
    flat = [c for c in walk(panel)]
    changed = [c.children for c in flat if isinstance(c, html.Td) and c.className == "changed"]
    backend = str(trace.hops[dnat].packet.dst)
    assert changed == [backend]
    after = [c.children for c in flat if isinstance(c, html.Span) and c.className == "after changed"]
    assert after == [backend]
    cross = state.trace(cluster, "pod/default/api-1", "pod/default/api-2:8080")
    encap = next(i for i, h in enumerate(cross.hops) if h.action == "encapsulate")
    titles = [c.children for c in walk(hop_panel(cross.hops[encap], cross.hops[encap - 1], "x"))
              if isinstance(c, html.H3)]
    assert titles == ["Inner headers (L3/L4)", "Outer headers (VXLAN/UDP/IP)", "Decided by"]
    items, panels, captions = render_trace(cross)
    assert len(panels) == len(cross.hops) + len(cross.reply)
    assert nat_badge(cross) == ("No NAT: pod addresses seen end to end (the seed's principles hold)", "badge ok", "")


def test_the_nat_badge_counts_address_changes_and_lists_port_only_ones():
    """Node → remote pod under host-gw: flannel's MASQUERADE --random-fully keeps the node's address but draws a
    new source port; pod → outside: the address changes."""
    cluster = load_sample("flannel-host-gw")
    node_to_pod = state.trace(cluster, "node/node-1", "pod/default/web-2:80")
    assert nat_badge(node_to_pod) == (
        "No NAT: pod addresses seen end to end (the seed's principles hold)", "badge ok",
        "src 192.168.0.11:45606 → 192.168.0.11:61887 (port only)")
    outside = state.trace(cluster, "pod/default/client-1", "203.0.113.10:443")
    assert nat_badge(outside) == ("NAT on the way: 1 address change(s), not the seed's no-NAT model", "badge nat",
                                  "src 10.244.0.3:46234 → 192.168.0.11:26639")


def test_invalid_upload_reports_file_and_line_and_keeps_no_key(cache):
    outcome = state.load_upload_into(cache, [("bad.yaml", b"apiVersion: v1\nkind: Pod\nspec: [unclosed\n")],
                                     1_000_000)
    assert outcome.key is None
    status = _status(outcome, 1)
    codes = [c.children for c in walk(html.Div(status)) if isinstance(c, html.Code)]
    assert codes == ["bad.yaml:4"]
    texts = [c.children for c in walk(html.Div(status)) if isinstance(c, html.Div)]
    assert "The cluster on screen was kept as it was." in texts


def test_valid_upload_is_cached_under_its_content_hash(cache):
    data = (
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: solo\n  labels: {app: solo}\n"
        b"spec:\n  containers:\n  - name: c\n    image: nginx\n")
    first = state.load_upload_into(cache, [("solo.yaml", data)], 1_000_000)
    again = state.load_upload_into(cache, [("solo.yaml", data)], 1_000_000)
    assert first.key == again.key and first.key is not None
    assert "default/solo" in cache.get(first.key).pod_by_key


def test_decode_upload_limits_and_errors():
    payload = "data:application/x-yaml;base64," + base64.b64encode(b"x" * 2000).decode()
    assert state.decode_upload(payload, "a.yaml", 10_000) == (b"x" * 2000, None)
    assert state.decode_upload(payload, "a.yaml", 1_000) == (
        None, "a.yaml is 0.002 MB, over this server's upload limit of 0.001 MB. To load it, restart the server with a "
              "larger limit: k8s-netviz serve --max-upload-mb N")
    assert state.decode_upload("data:;base64,@@@", "b.yaml", 1000) == (None, "b.yaml: the upload could not be decoded")


def test_click_picks_destination_then_source(cache, seed_key):
    choices = state.flow_choices(seed_key, cache.get(seed_key))
    assert state.pick_from_click(choices, "pod-to-pod-cross-node", "pod/default/api-1", "pod:default/api-2") == (
        "pod-to-pod-cross-node", "pod/default/api-1", "pod/default/api-2:8080")
    assert state.pick_from_click(choices, "pod-to-service", "pod/default/api-1", "svc:default/db") == (
        "pod-to-service", "pod/default/api-1", "svc/default/db:5432")
    kind, src, _ = state.pick_from_click(choices, "pod-to-pod-cross-node", "pod/default/api-1", "pod:default/db-1")
    assert (kind, src) == ("pod-to-pod-cross-node", "pod/default/api-1")


def test_find_pod_by_ip_label_and_name(cache, seed_key):
    cluster = cache.get(seed_key)
    assert state.find_pod(cluster, str(cluster.pod_by_key["default/db-1"].pod_ip)) == "default/db-1"
    assert state.find_pod(cluster, "web-2") == "default/web-2"
    assert state.find_pod(cluster, "k8s-app=kube-dns") == "kube-system/coredns-868cd75d4-2mcc9"
    assert state.find_pod(cluster, "nothing-like-this") is None


def test_without_a_full_flow_the_page_asks_for_one(cache, seed_key):
    out = draw_view(cache, seed_key, "pod-to-service", None, None, ViewSettings(), None, None)
    assert out["verdict"] == "Pick a communication type, a source and a destination."
    assert out["playback"] is None and out["figure"]["data"]


def test_inspector_lists_candidate_endpoints_with_probabilities(cache, seed_key):
    cluster = cache.get(seed_key)
    trace = state.trace(cluster, "pod/default/web-1", "svc/default/api-lb:80")
    index, hop = next((i, h) for i, h in enumerate(trace.hops) if h.alternatives)
    table = next(t for t in walk(hop_panel(hop, trace.hops[index - 1], f"q{index}"))
                 if isinstance(t, html.Table) and t.className == "alternatives")
    rows = [r for r in walk(table) if isinstance(r, html.Tr)]
    cells = [[c.children if not isinstance(c.children, html.Code) else c.children.children for c in r.children]
             for r in rows]
    expected = [[str(alt.dst), "50.0 %", "chosen" if alt.chosen else "", alt.rule]
                for alt in hop.alternatives]
    assert cells == expected and len(expected) == 2
    assert sorted(r.className or "" for r in rows) == ["", "chosen"]


def test_serve_paths_are_loaded_once_into_the_cache(cache):
    from webapp.loaders import load_paths
    from webapp.paths import SAMPLES_DIR

    key = state.preload_paths(cache, [SAMPLES_DIR / "guestbook"], load_paths)
    assert cache.get(key) == load_sample("guestbook")
    assert state.preload_paths(cache, [SAMPLES_DIR / "guestbook"], load_paths) == key


def test_ipvs_candidates_name_their_one_virtual_server_once(cache, seed_key):
    cluster = state.variant(seed_key, cache.get(seed_key), ViewSettings.parse("ipvs"))
    trace = state.trace(cluster, "pod/default/api-1", "svc/default/api-lb:80")
    index, hop = next((i, h) for i, h in enumerate(trace.hops) if h.alternatives)
    panel = hop_panel(hop, trace.hops[index - 1], f"q{index}")
    table = next(t for t in walk(panel) if isinstance(t, html.Table) and t.className == "alternatives")
    rows = [[c.children for c in r.children] for r in walk(table) if isinstance(r, html.Tr)]
    assert rows == [["10.244.1.3:8080", "50.0 %", "chosen"], ["10.244.2.3:8080", "50.0 %", ""]]
    (note,) = [c for c in walk(panel) if getattr(c, "className", None) == "note shared-rule"]
    assert note.children[0] == "All through" and note.children[2].children == "TCP 10.96.0.11:80 rr"


def test_callback_error_banner_gives_a_reference_and_no_python_internals(monkeypatch, caplog):
    from webapp.app import factory

    shown = {}
    monkeypatch.setattr(factory, "set_props", lambda component, props: shown.update({component: props}))
    monkeypatch.setattr(factory, "error_reference", lambda error: "0a1b2c3d")
    try:
        {}["secret-key"]
    except KeyError as error:
        with caplog.at_level("ERROR", logger="k8s-netviz"):
            factory._show_callback_error(error)
    banner = shown[factory.Id.ERROR_BANNER]["children"]
    assert banner == ("Internal error (reference 0a1b2c3d): a bug in k8s-netviz, not a problem of your input. "
                      "The page kept its last good state; please report it with the reference.")
    assert "KeyError" not in banner and "secret-key" not in banner
    assert caplog.records[-1].getMessage() == "internal error 0a1b2c3d in a callback"
    assert caplog.records[-1].exc_info[0] is KeyError
