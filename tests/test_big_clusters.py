"""Big clusters in the web app (issue 18): the fast upload endpoint (multipart, gzip, stages, limits), clusters named
after their file, the grouped overview and its colours, and search that opens a pod's group and node."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from collections import Counter

import pytest

from factories import big_cluster
from webapp.app import create_app, state
from webapp.app.cache import open_cache
from webapp.app.callbacks import draw_view
from webapp.app.upload import UPLOAD_PATH, gunzip, request_limit
from webapp.figures import DiagramView, build_diagram
from webapp.figures.overview import (
    GROUP_FROM_NODES, SHARE_SCALE, group_of, health_style, node_groups, node_health, share_fill,
)
from webapp.paths import SAMPLES_DIR
from webapp.variants import ViewSettings

GUESTBOOK = SAMPLES_DIR / "guestbook" / "guestbook-all-in-one.yaml"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(cache=str(tmp_path_factory.mktemp("upload-cache")), max_upload_mb=1, warm=False)
    return app.server.test_client()


def _post(client, *files: tuple[bytes, str]) -> list[dict]:
    response = client.post(UPLOAD_PATH, data={"file": [(io.BytesIO(data), name) for data, name in files]},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_the_upload_endpoint_streams_each_stage_then_the_result(client):
    lines = _post(client, (gzip.compress(GUESTBOOK.read_bytes()), "guestbook-all-in-one.yaml.gz"))
    assert [line.get("stage") for line in lines[:-1]] == ["received", "parse", "read", "check", "store"]
    result = lines[-1]["result"]
    assert (result["files"], result["problems"], result["messages"]) == (1, [], [])
    out = state.on_uploaded(_cache_of(client), result, None)
    assert out["name"] == "guestbook-all-in-one" and out["sample"] is None  # named after its file, without .yaml.gz
    assert out["src"] is not None and out["dst"] is not None  # FROM and TO: a first valid flow


def test_serve_path_of_a_big_cluster_opens_on_a_first_flow_as_an_upload_does(tmp_path):
    """`serve PATH` (the page's default cluster is the preloaded key) and an upload of the same big cluster fill the
    picker alike: the first valid flow of the engine's bounded choices, traced on the grouped overview."""
    cluster = big_cluster(GROUP_FROM_NODES, 2)
    cache = open_cache(tmp_path)
    served, uploaded = cache.put("a" * 64, cluster), cache.put("b" * 64, cluster)
    opened = state.on_url(cache, "", served)
    dropped = state.on_uploaded(cache, {"key": uploaded, "files": 1, "problems": [], "messages": []}, None)
    picker = ("type", "type_options", "src", "src_options", "dst", "dst_options")
    assert {name: opened[name] for name in picker} == {name: dropped[name] for name in picker}
    assert (opened["type"], opened["src"], opened["dst"]) == (
        "pod-to-pod-same-node", "pod/ns-0/pod-0-0", "pod/ns-1/pod-0-1:8080")
    assert len(opened["src_options"]) == 64  # flows.CANDIDATE_SCOPE: bounded, whatever the cluster's size
    out = draw_view(cache, served, state.flow_type_of_value(opened["type"]), opened["src"], opened["dst"],
                    ViewSettings(), None, opened["view"])
    assert out["verdict"] == "Delivered"
    assert out["note"] == ("Overview: 200 nodes in 10 groups, 400 pods. Click a group to open it, then a node to "
                           "expand it.")
    assert out["playback"]["draw"] == out["figure"]["layout"]["meta"]["draw"]  # the player's trace is this drawing's
    named = state.on_url(cache, f"?cluster={served}", served)  # a URL naming it without a flow: its overview
    assert (named["src"], named["dst"]) == (None, None)


def _cache_of(client):
    """The app's cluster cache (the endpoint's closure holds it)."""
    view = client.application.view_functions["upload"]
    return next(cell.cell_contents for cell in view.__closure__ if hasattr(cell.cell_contents, "backend"))


def test_a_second_upload_of_the_same_files_is_found_in_the_cache(client):
    _post(client, (GUESTBOOK.read_bytes(), "again.yaml"))
    lines = _post(client, (GUESTBOOK.read_bytes(), "again.yaml"))
    assert [line.get("stage") for line in lines[:-1]] == ["received"] and lines[-1]["result"]["key"]


def test_bad_gzip_and_errors_come_back_as_the_result(client):
    result = _post(client, (b"\x1f\x8b\x08\x00broken", "dump.json.gz"))[-1]["result"]
    assert result == {"key": None, "files": 1, "problems": [], "messages": ["dump.json.gz: not a valid gzip file"]}
    result = _post(client, (b"kind: Pod\n", "bad.yaml"))[-1]["result"]
    assert result["key"] is None and [p["code"] for p in result["problems"]] == ["E-DOC-NO-KIND"]
    out = state.on_uploaded(_cache_of(client), result, None)
    assert set(out) == {"status"} and out["status"].outcome.key is None


def test_files_over_the_limits_are_refused_before_loading(client):
    over = b"#" * 1_000_001
    result = _post(client, (over, "big.yaml"))[-1]["result"]
    assert result["messages"] == ["big.yaml is 1 MB, over this server's upload limit of 1 MB. To load it, restart the "
                                  "server with a larger limit: k8s-netviz serve --max-upload-mb N"]
    assert request_limit(1_000_000) == 3_000_000
    three = [(b"#" * 999_000 + b"\n", f"part-{i}.yaml") for i in range(4)]
    result = _post(client, *three)[-1]["result"]
    assert result["key"] is None and result["messages"][0].startswith("The upload (4 MB as sent) is over this "
                                                                      "server's request limit of 3 MB.")


def test_gzip_bombs_stop_at_the_limit():
    bomb = gzip.compress(b"\n" * 5_000_000)
    assert gunzip("bomb.gz", bomb, 1_000_000) == (None, "bomb.gz unpacks to more than this server's upload limit "
                                                        "of 1 MB")
    assert gunzip("ok.gz", gzip.compress(b"kind: List\n"), 1_000_000) == (b"kind: List\n", None)
    assert gunzip("plain.yaml", b"kind: List\n", 10) == (b"kind: List\n", None)


def test_file_titles():
    assert state.file_title("dumps/prod-eu.json.gz") == "prod-eu"
    assert state.file_title("C:\\dumps\\cluster.YAML") == "cluster"
    assert state.file_title(".gz") == ".gz"


def _zoned(nodes: int, zones: int = 3) -> object:
    cluster = big_cluster(nodes, 3)
    labelled = [dataclasses.replace(n, labels=(("topology.kubernetes.io/zone", f"zone-{'abcdef'[i % zones]}"),))
                for i, n in enumerate(cluster.nodes)]
    return dataclasses.replace(cluster, nodes=tuple(labelled))


def test_groups_follow_zones_and_cut_big_zones_into_name_ranges():
    cluster = _zoned(1000)
    groups = node_groups(cluster)
    assert len(groups) == 30 and Counter(g.title for g in groups) == {"zone-a": 10, "zone-b": 10, "zone-c": 10}
    assert sorted(n for g in groups for n in g.nodes) == sorted(n.name for n in cluster.nodes)
    first = groups[0]
    assert (first.key, first.span, len(first.nodes), first.by) == ("zone-a#1", "node-0 – 99", 34, "zone+range")
    assert group_of(cluster, "node-3") == first


def test_without_labels_nodes_are_grouped_by_prefix_then_ranges():
    cluster = big_cluster(GROUP_FROM_NODES, 1)
    named = [dataclasses.replace(n, name=("gpu-" if i % 2 else "cpu-") + n.name) for i, n in enumerate(cluster.nodes)]
    groups = node_groups(dataclasses.replace(cluster, nodes=tuple(named), pods=()))
    assert [(g.title, g.span, len(g.nodes), g.by) for g in groups[::5]] == [
        ("cpu-node-", "cpu-node-0 – 38", 20, "prefix+range"), ("gpu-node-", "gpu-node-1 – 39", 20, "prefix+range")]
    assert Counter(g.title for g in groups) == {"cpu-node-": 5, "gpu-node-": 5}
    plain = node_groups(big_cluster(GROUP_FROM_NODES, 1))
    assert [len(g.nodes) for g in plain] == [20] * 10 and plain[1].title == "node-20 – 39"


def test_colour_follows_the_share_of_pods_not_ready_and_notready_nodes_are_strongest():
    """1 pod in 17 not ready (as in the issue's dump): no group is red; a group with a NotReady node gets the thick
    dark-red border; a NotReady node alone is dark red."""
    cluster = _zoned(600)
    pods = tuple(dataclasses.replace(p, ready=False) if i % 17 == 0 else p for i, p in enumerate(cluster.pods))
    nodes = tuple(dataclasses.replace(n, ready=False) if n.name == "node-0" else n for n in cluster.nodes)
    cluster = dataclasses.replace(cluster, pods=pods, nodes=nodes)
    fills = [health_style(node_health(cluster, g.nodes, None)).fill for g in node_groups(cluster)]
    assert SHARE_SCALE[-1][1] not in fills and set(fills) == {share_fill(0.05)} == {"#fde68a"}
    first = health_style(node_health(cluster, node_groups(cluster)[0].nodes, None))
    assert (first.line, first.width) == ("#7f1d1d", 3.0)
    assert health_style(node_health(cluster, ("node-0",), None)).fill == "#7f1d1d"
    assert [share_fill(x) for x in (0, 0.02, 0.021, 0.1, 0.25, 0.26)] == [
        "#dcfce7", "#fef9c3", "#fde68a", "#fde68a", "#fdba74", "#fca5a5"]


def test_the_grouped_overview_draws_groups_not_node_tiles_and_opens_one():
    cluster = _zoned(1000)
    figure = build_diagram(cluster).figure
    refs = next(t for t in figure["data"] if t.get("name") == "targets")["customdata"]
    assert sorted(r for r in refs if r.startswith("group:")) == sorted(f"group:{g.key}" for g in node_groups(cluster))
    assert not any(r.startswith("node:") for r in refs)
    assert figure["layout"]["meta"]["min_label_px"] == 10
    opened = build_diagram(cluster, DiagramView(groups=frozenset({"zone-b#2"}))).figure
    refs = next(t for t in opened["data"] if t.get("name") == "targets")["customdata"]
    group = next(g for g in node_groups(cluster) if g.key == "zone-b#2")
    assert sorted(r for r in refs if r.startswith("node:")) == sorted(f"node:{n}" for n in group.nodes)
    assert refs.count("group:zone-b#2") == 1 and len([r for r in refs if r.startswith("group:")]) == 30


def test_search_finds_pods_nodes_and_services_and_opens_their_group(tmp_path):
    cluster = _zoned(300)
    pod = cluster.pods_by_node["node-250"][1]
    hit = state.find(cluster, str(pod.pod_ip))
    assert hit == state.Hit("pod", pod.key)
    group = group_of(cluster, "node-250")
    assert state.view_for(cluster, hit, {"expanded": ["node-1"], "groups": []}) == {
        "expanded": ["node-1", "node-250"], "focus": pod.key, "groups": [group.key], "services": []}
    assert state.find(cluster, "10.0.0.20") == state.Hit("node", "node-10")
    assert state.find(cluster, "topology.kubernetes.io/zone=zone-b") == state.Hit("node", "node-1")
    assert state.find(cluster, "no-such-thing") is None
    assert state.hit_of(cluster, {"kind": "pod", "key": "ns-0/nope"}) is None
    assert state.hit_of(cluster, {"kind": "node", "key": "node-3"}) == state.Hit("node", "node-3")
    figure = build_diagram(cluster, state.view_of(state.view_for(cluster, hit, None), None)).figure
    x_range, y_range = figure["layout"]["xaxis"]["range"], figure["layout"]["yaxis"]["range"]
    assert (x_range[1] - x_range[0], y_range[1] - y_range[0]) == (24, 14)  # zoomed on the pod


def test_a_searched_pod_becomes_from_and_to(tmp_path):
    cache = open_cache(str(tmp_path))
    outcome = state.load_upload_into(cache, [("guestbook.yaml", GUESTBOOK.read_bytes())], 10_000_000)
    cluster = outcome.cluster
    assert cluster.name == "guestbook"
    redis = next(p for p in cluster.pods if p.name.startswith("redis-replica"))
    frontend = next(p for p in cluster.pods if p.name.startswith("frontend"))
    hit = {"kind": "pod", "key": redis.key}
    picked = state.on_search_pick(cache, outcome.key, hit, "from", None, None)
    assert picked["src"] == f"pod/{redis.key}" and picked["dst"]
    picked = state.on_search_pick(cache, outcome.key, hit, "to", None, f"pod/{frontend.key}")
    assert (picked["src"], picked["dst"]) == (f"pod/{frontend.key}", f"pod/{redis.key}:6379")
    none = state.on_search_pick(cache, outcome.key, hit, "to", None, None)
    assert none["status"].warning == f"{redis.key} is not a destination of the current FROM: pick a FROM first"



def test_a_kubeconfig_names_the_cluster_and_nothing_else_is_read(tmp_path):
    config = (b"apiVersion: v1\nkind: Config\ncurrent-context: prod-eu-west\nusers:\n- name: admin\n"
              b"  user: {token: secret}\n---\n")
    outcome = state.load_upload_into(open_cache(str(tmp_path)), [("dump.yaml", config + GUESTBOOK.read_bytes())],
                                     10_000_000)
    assert outcome.cluster.name == "prod-eu-west"
    assert not any(p.code.startswith(("E-", "W-")) for p in outcome.problems)
    odd = b"apiVersion: v1\nkind: Config\ncurrent-context: \"bad\\u0007name\"\n---\n"
    outcome = state.load_upload_into(open_cache(str(tmp_path)), [("odd.yaml", odd + GUESTBOOK.read_bytes())],
                                     10_000_000)
    assert outcome.cluster.name == "odd"
    assert [(p.code, p.line) for p in outcome.problems if p.code.startswith("W-")] == [("W-CONTEXT-NAME", 3)]
