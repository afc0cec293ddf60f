"""Flows beyond the picker's initial lists on a 100-node dump: any valid pair is checked on demand and traced, the
FROM/TO pickers search every pod, node and service (bounded), clicks pick anywhere, an invalid pair says why.
Uploads over the limit: the browser's limit comes from the server's, and an oversized request gets a message."""

import json
from pathlib import Path

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from benchmarks.generate_cluster import write_dump
from webapp.app import create_app, state
from webapp.app.cache import open_cache
from webapp.app.callbacks import draw_view
from webapp.app.factory import _request_too_large, request_limit
from webapp.app.layout import Id, build_layout
from webapp.app.limits import megabytes
from webapp.engine.flows import candidate_flows, trace_flow
from webapp.variants import ViewSettings

SRC = "pod/team-00/app-00260-rggtwcvnk4-9ms79"
"""The first application pod on worker-0090 (10.244.90.16)."""
DST = "pod/team-00/app-00140-cnz8h7sq4j-dzckp:8080"
"""The first application pod on worker-0050, on its http port."""
CROSS = "pod-to-pod-cross-node"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The 100-node dump (seed 0) uploaded into a cache: (cache, key, cluster)."""
    path = write_dump(tmp_path_factory.mktemp("dump") / "cluster-100.json", 100, "json")
    cache = open_cache(str(tmp_path_factory.mktemp("cache")))
    outcome = state.load_upload_into(cache, [(path.name, path.read_bytes())], 50_000_000)
    assert outcome.key is not None
    return cache, outcome.key, outcome.cluster


def test_the_far_pair_is_outside_the_initial_lists(loaded):
    _, _, cluster = loaded
    specs = {spec for pairs in candidate_flows(cluster).values() for pair in pairs for spec in pair}
    assert SRC not in specs and DST not in specs
    assert cluster.pod_by_key[SRC[4:]].node == "worker-0090"
    assert cluster.pod_by_key[DST[4:].split(":")[0]].node == "worker-0050"


def test_a_pair_is_checked_on_demand(loaded):
    _, _, cluster = loaded
    assert state.flow_type_of(cluster, SRC, DST) == CROSS
    assert state.pair_fits(cluster, CROSS, SRC, DST)
    assert not state.pair_fits(cluster, "pod-to-pod-same-node", SRC, DST)
    assert not state.pair_fits(cluster, CROSS, "pod/team-00/no-such-pod", DST)
    assert state.source_fits(cluster, CROSS, SRC) and state.source_fits(cluster, CROSS, SRC + ":server")
    assert not state.source_fits(cluster, "node-to-pod", SRC)
    assert state.source_fits(cluster, "node-to-pod", "node/worker-0090")
    with pytest.raises(ValueError, match="^pod/team-00/no-such-pod: pod team-00/no-such-pod not found$"):
        state.flow_type_of(cluster, "pod/team-00/no-such-pod", DST)


def test_the_url_keeps_a_far_pair_and_takes_the_engine_s_type(loaded):
    cache, key, cluster = loaded
    choices = state.flow_choices(key, cluster)
    for asked in (CROSS, "nodeport", None):
        out = state.requested_flow(cluster, choices, asked, SRC, DST, auto=False)
        assert (out["type"], out["src"], out["dst"]) == (CROSS, SRC, DST)
        assert out["src_options"][0] == {"label": SRC, "value": SRC}
        assert out["dst_options"][0] == {"label": DST, "value": DST}


def test_a_far_pair_draws_and_plays(loaded):
    cache, key, cluster = loaded
    out = draw_view(cache, key, CROSS, SRC, DST, ViewSettings(), None, None)
    trace = trace_flow(cluster, SRC, DST)
    assert out["verdict"] == "Delivered" and out["verdict_class"] == "verdict delivered"
    assert len(out["playback"]["points"]) == len(trace.hops) == 19
    assert out["playback"]["trace"] == trace.to_dict()
    assert state.path_nodes(trace) == {"worker-0090", "worker-0050"}


def test_an_invalid_pair_is_kept_and_said_to_be_invalid(loaded):
    cache, key, cluster = loaded
    bad = "pod/team-00/no-such-pod"
    out = state.requested_flow(cluster, state.flow_choices(key, cluster), CROSS, bad, DST, auto=False)
    assert (out["type"], out["src"], out["dst"]) == (CROSS, bad, DST)
    drawn = draw_view(cache, key, CROSS, bad, DST, ViewSettings(), None, None)
    assert drawn["verdict"] == (f"Could not trace {bad} → {DST}: {bad}: pod team-00/no-such-pod not found")
    assert drawn["verdict_class"] == "verdict error" and drawn["playback"] is None


def test_a_searched_source_is_kept_with_its_first_destination(loaded):
    _, key, cluster = loaded
    out = state.flow_outputs(cluster, state.flow_choices(key, cluster), CROSS, SRC, None)
    assert (out["type"], out["src"], out["dst"]) == (CROSS, SRC, "pod/kube-system/coredns-bwvnpx2b8-5glbs:53")
    out = state.flow_outputs(cluster, state.flow_choices(key, cluster), CROSS, SRC, DST)
    assert (out["src"], out["dst"]) == (SRC, DST)


def test_sources_are_searched_by_node_name_and_ip(loaded):
    _, _, cluster = loaded
    on_node = state.search_sources(cluster, CROSS, "worker-0090")
    assert [spec for spec, _ in on_node] == [f"pod/{p.key}" for p in cluster.pods_by_node["worker-0090"]
                                             if not p.host_network]
    assert len(on_node) == 29
    assert state.search_sources(cluster, CROSS, "10.244.90.16") == [(SRC, "10.244.90.16 worker-0090")]
    assert len(state.search_sources(cluster, CROSS, "app")) == state.SEARCH_LIMIT == 50
    assert state.search_sources(cluster, "node-to-pod", "worker-0090") == [("node/worker-0090", "10.0.0.100")]
    assert state.search_sources(cluster, "nodeport", "") == [("198.51.100.7", "")]


def test_destinations_are_searched_and_checked_with_the_engine(loaded):
    _, _, cluster = loaded
    assert state.search_destinations(cluster, CROSS, SRC, "worker-0090") == []  # same node: not cross-node
    same = state.search_destinations(cluster, "pod-to-pod-same-node", SRC, "worker-0090", 100)
    assert len(same) == 28 and all(spec.split(":")[0] != SRC for spec, _ in same)
    assert state.search_destinations(cluster, CROSS, SRC, "app-00140-cnz8h7sq4j-dzckp") == [
        (DST, "10.244.50.16 worker-0050")]
    ports = state.search_destinations(cluster, "nodeport", "198.51.100.7", "worker-0077", 100)
    assert len(ports) == 30 and ports[0] == ("node/worker-0077:30862", "svc/team-03/app-00003")
    services = state.search_destinations(cluster, "pod-to-service", SRC, "team-03/app-00003")
    assert [spec for spec, _ in services] == ["svc/team-03/app-00003:http"]


def test_clicking_a_pod_anywhere_picks_it(loaded):
    _, key, cluster = loaded
    choices = state.flow_choices(key, cluster)
    far = DST[4:].split(":")[0]
    assert state.pick_from_click(choices, CROSS, SRC, f"pod:{far}") is None  # the lists alone know neither
    assert state.pick_anywhere(cluster, choices, CROSS, SRC, f"pod:{far}") == (CROSS, SRC, DST)
    assert state.pick_anywhere(cluster, choices, CROSS, None, f"pod:{SRC[4:]}") == (
        CROSS, SRC, "pod/kube-system/coredns-bwvnpx2b8-5glbs:53")
    assert state.pick_anywhere(cluster, choices, "pod-to-service", SRC, "svc:team-03/app-00003") == (
        "pod-to-service", SRC, "svc/team-03/app-00003:http")
    itself = state.pick_anywhere(cluster, choices, CROSS, SRC, f"pod:{SRC[4:]}")
    assert itself == (CROSS, SRC, "pod/kube-system/coredns-bwvnpx2b8-5glbs:53")  # the source, not a flow to itself


def _find(component, predicate):
    if predicate(component):
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = _find(child, predicate)
            if found is not None:
                return found
    return None


def test_the_browser_refuses_files_over_the_server_s_limit():
    page = build_layout([("seed-article", "Seed")], 1_000_000)
    upload = _find(page, lambda c: getattr(c, "id", None) == Id.UPLOAD)
    assert upload.max_size == 1_000_000
    limits = _find(page, lambda c: "data-max-bytes" in c.to_plotly_json()["props"])
    props = limits.to_plotly_json()["props"]
    assert (props["data-max-bytes"], props["data-limit-mb"], props["data-kept"]) == (
        "1000000", "1", "The cluster on screen was kept as it was.")
    assert props["data-too-big"] == ("{file} is {size} MB, over this server's upload limit of {limit} MB. To load it, "
                                     "restart the server with a larger limit: k8s-netviz serve --max-upload-mb N")
    assert [megabytes(n) for n in (3_500_000, 50_000_000, 1_040_000, 2_000)] == ["3.5", "50", "1.04", "0.002"]


def test_an_oversized_request_gets_a_message_not_a_bare_413(tmp_path):
    app = create_app(cache=str(tmp_path), max_upload_mb=1, warm=False)
    limit = request_limit(1_000_000)
    assert app.server.config["MAX_CONTENT_LENGTH"] == limit == 3_666_666
    client = app.server.test_client()
    body = b"x" * 4_200_000
    answer = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert answer.status_code == 200
    status = json.loads(answer.data)["sideUpdate"][Id.UPLOAD_STATUS]["children"]
    assert status[0]["props"]["children"][0]["props"]["children"] == (
        "The upload (4.2 MB as sent) is over this server's request limit of 3.67 MB. Upload fewer files at once, or "
        "restart the server with a larger --max-upload-mb")
    assert status[1]["props"]["children"] == "The cluster on screen was kept as it was."
    with app.server.test_request_context("/somewhere-else", method="POST"):
        assert _request_too_large(RequestEntityTooLarge()).code == 413  # not a callback: the plain 413


def test_the_deployment_guide_states_the_real_request_limit():
    guide = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    assert "8/3 × the file limit + 1 MB" in guide and "1.4 ×" not in guide
