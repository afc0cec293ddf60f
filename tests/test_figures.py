"""The diagram and the player's hop points: devices drawn with the datapath's names, every hop of a real trace
landing on the device it names, overview of big clusters, namespace filter, focus."""

import dataclasses
import json
from collections import Counter

import plotly.graph_objects as go
import pytest

from factories import big_cluster, two_node_cluster
from webapp.engine.datapath import veth_name
from webapp.engine.flows import candidate_flows, trace_flow
from webapp.figures import DiagramView, build_diagram, hop_points, playback, position_key
from webapp.figures.player import hop_point
from webapp.figures.diagram import (EXT_W, LABEL, POD_W, P_POD, P_SVC, SVC_TEXT, SVC_W, _address, _fit,
                                    _fit_pod_name, _short_pod_name, _text_width)
from webapp.figures.devices import HOST_NETNS, netns_key, node_devices
from webapp.loaders import load_sample
from webapp.model import Overlay


@pytest.fixture(scope="module")
def seed():
    return load_sample("seed-article")


def texts(figure: dict, present: bool = False) -> list[str]:
    """The labels seen outside presentation mode (`present`: the ones seen in it), see assets/netviz.css."""
    hidden = "nvn" if present else "nvp"
    return [t for trace in figure["data"] if trace.get("mode") == "text" and not trace.get("uid", "").startswith(hidden)
            for t in trace["text"]]


def targets(figure: dict) -> list[str]:
    return [ref for trace in figure["data"] if trace.get("name") == "targets" for ref in trace["customdata"]]


def test_netns_key_reads_the_trace_contract_spellings():
    assert netns_key("host/node-1") == "host"
    assert netns_key("pod/default/web") == "default/web"
    assert netns_key(None) == "host"
    assert netns_key("external") == "external"


def test_seed_diagram_draws_every_device_with_the_datapath_names(seed):
    diagram = build_diagram(seed)
    labels = texts(diagram.figure)
    assert "<b>OVS obr0</b>" in labels
    assert "eth0  192.168.0.11" in labels and "eth0  192.168.0.12" in labels
    assert any(label.startswith("docker0  10.244.1.1/24") for label in labels)
    assert "<b>kube-proxy</b> (iptables)" in labels
    for node in seed.nodes:
        for pod in node_devices(seed, node).pods:
            assert position_key(node.name, "host", pod.host_veth) in diagram.positions
            assert pod.host_veth == veth_name(pod.pod)
    # Every pod with its own netns shows the pause container, and every pod is clickable.
    assert labels.count("▢ pause") == sum(1 for p in seed.pods if not p.host_network)
    assert sorted(targets(diagram.figure)) == sorted(
        [f"pod:{p.key}" for p in seed.pods] + [f"svc:{s.key}" for s in seed.services]
        + [f"node:{n.name}" for n in seed.nodes] + [f"ext:{h.name}" for h in seed.external_hosts])


def test_the_figure_is_valid_plotly_and_ends_with_the_three_player_traces(seed):
    diagram = build_diagram(seed)
    assert [t["name"] for t in diagram.figure["data"][-3:]] == ["highlight", "envelope", "packet"]
    figure = diagram.to_plotly()
    assert isinstance(figure, go.Figure)
    assert len(json.dumps(diagram.figure)) < 200_000


def test_cross_node_hops_land_on_the_devices_they_name(seed):
    diagram = build_diagram(seed)
    trace = trace_flow(seed, "pod/default/api-1", "pod/default/api-2:8080")
    points = hop_points(diagram, trace.hops)
    assert len(points) == len(trace.hops) == 19
    pos = diagram.positions
    by_device = {(h.node, h.device, h.kind): p for h, p in zip(trace.hops, points)}
    assert by_device[("node-1", "api", "app")] == pos["node-1|default/api-1|api"]
    assert by_device[("node-1", veth_name("default/api-1"), "interface")] == pos[f"node-1|host|{veth_name('default/api-1')}"]
    assert by_device[("node-1", "obr0", "ovs")] == pos["node-1|host|obr0"]
    assert by_device[("node-1", "vxlanc0a8000c", "vxlan")] == pos["node-1|host|vxlanc0a8000c"]
    assert by_device[("node-2", "api", "app")] == pos["node-2|default/api-2|api"]
    wire = points[[h.kind for h in trace.hops].index("wire")]
    # Inside the VXLAN tunnel the packet rides the drawn tunnel line (issue 10), not the physical network under it:
    # down node-1's tunnel end, along the line, up node-2's.
    encap = [h.kind for h in trace.hops].index("vxlan")
    assert trace.hops[encap].action == "encapsulate" and wire[1] != pos["wire|"][1]
    assert points[encap + 1:encap + 5] == [pos["tunnel|node-1"], pos["tunnel|node-1"], pos["tunnel|"],
                                           pos["tunnel|node-2"]]
    assert pos["tunnel|node-1"] == (pos["node-1|overlay-drop"][0], pos["tunnel|"][1])
    assert pos["tunnel|node-2"] == (pos["node-2|overlay-drop"][0], pos["tunnel|"][1])
    assert pos["tunnel|"] == (21.1, -7.2) and pos["wire|"] == (15.275, -7.9)
    assert [h.kind for h in trace.hops[encap + 1:encap + 5]] == ["route", "interface", "wire", "interface"]


def test_outside_hops_land_outside_the_nodes(seed):
    diagram = build_diagram(seed)
    trace = trace_flow(seed, "203.0.113.10", "203.0.113.100:80")
    data = playback(diagram, trace)
    assert data["points"][0] == diagram.positions["external|client"]
    assert data["points"][1] == diagram.positions["external|loadbalancer"]
    assert len(data["reply_points"]) == len(trace.reply)
    assert data["trace"] == trace.to_dict()


@pytest.mark.parametrize("overlay, label", [
    (Overlay.FLANNEL_VXLAN, "<b>flannel.1</b>  10.244.0.0/32"),
    (Overlay.OVS_VXLAN, "<b>OVS obr0</b>"),
])
def test_overlay_device_and_tunnel(overlay, label):
    figure = build_diagram(two_node_cluster(overlay)).figure
    assert label in texts(figure)
    assert any(t.get("name") == "overlay tunnel" for t in figure["data"])


def test_host_gw_has_no_tunnel():
    figure = build_diagram(two_node_cluster(Overlay.FLANNEL_HOST_GW)).figure
    assert not any(t.get("name") == "overlay tunnel" for t in figure["data"])
    assert not any("VXLAN" in label for label in texts(figure))


def test_big_cluster_opens_as_an_overview_of_tiles():
    cluster = big_cluster(12, 6)
    diagram = build_diagram(cluster)
    assert diagram.overview and diagram.detail_nodes == ()
    refs = targets(diagram.figure)
    assert not any(r.startswith("pod:") for r in refs)
    assert sorted(r for r in refs if r.startswith("node:")) == sorted(f"node:{n.name}" for n in cluster.nodes)
    assert texts(diagram.figure).count("6 pods") == 12


def test_expanding_a_node_draws_its_pods_only():
    cluster = big_cluster(12, 6)
    node = cluster.nodes[3].name
    diagram = build_diagram(cluster, DiagramView(expanded=frozenset({node})))
    assert diagram.detail_nodes == (node,)
    pods = sorted(r[4:] for r in targets(diagram.figure) if r.startswith("pod:"))
    assert pods == sorted(p.key for p in cluster.pods_by_node[node])


def test_namespace_filter_hides_other_pods(seed):
    diagram = build_diagram(seed, DiagramView(namespace="kube-system"))
    pods = sorted(r[4:] for r in targets(diagram.figure) if r.startswith("pod:"))
    assert pods == ["kube-system/coredns-868cd75d4-2mcc9", "kube-system/coredns-868cd75d4-9v5v2"]
    assert sorted(r[4:] for r in targets(diagram.figure) if r.startswith("svc:")) == ["kube-system/kube-dns"]


def test_focus_centres_the_view_on_the_pod(seed):
    diagram = build_diagram(seed, DiagramView(focus="default/db-1"))
    cx, cy = diagram.positions[position_key("node-2", "default/db-1", "")]
    x_range, y_range = diagram.figure["layout"]["xaxis"]["range"], diagram.figure["layout"]["yaxis"]["range"]
    assert (x_range[0] + x_range[1]) / 2 == pytest.approx(cx, abs=0.01)
    assert (y_range[0] + y_range[1]) / 2 == pytest.approx(cy, abs=0.01)


def test_every_sample_and_flow_type_resolves_each_hop_to_a_drawn_point():
    for name in ("seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook"):
        cluster = load_sample(name)
        diagram = build_diagram(cluster)
        for flow_type, pairs in candidate_flows(cluster).items():
            src, dst = pairs[0]
            trace = trace_flow(cluster, src, dst)
            for hop in [*trace.hops, *trace.reply]:
                if hop.kind == "wire" and not hop.node:
                    continue  # placed between its neighbours on the physical network
                assert hop_point(diagram.positions, hop, None) is not None, (name, flow_type, hop)


def test_a_flow_in_the_overview_expands_only_the_nodes_on_its_path():
    cluster = big_cluster(12, 6)
    a, b = cluster.pods_by_node[cluster.nodes[2].name][1], cluster.pods_by_node[cluster.nodes[7].name][2]
    diagram = build_diagram(cluster, DiagramView(path_nodes=frozenset({a.node, b.node})))
    assert diagram.detail_nodes == (a.node, b.node)
    assert sorted(r[4:] for r in targets(diagram.figure) if r.startswith("pod:")) == sorted(
        p.key for p in (*cluster.pods_by_node[a.node], *cluster.pods_by_node[b.node]))
    assert len([r for r in targets(diagram.figure) if r.startswith("node:")]) == 12
    assert texts(diagram.figure).count("6 pods") == 10


def test_namespace_filter_says_how_many_pods_it_hides():
    cluster = load_sample("seed-article")
    labels = texts(build_diagram(cluster, DiagramView(namespace="default")).figure)
    assert labels.count("2 pods of other namespaces hidden") == 1


def test_the_layout_names_the_font_design_size_the_browser_rescales_from(seed):
    """fitFonts (assets/netviz.js) draws a label of size s at s / font_scale × (pixels per unit) / 34: the seed's
    30.55 units wide diagram is sized for 1000 px, so its fonts are 1000 / (30.55 × 34) = 0.9627 of the styles'."""
    figure = build_diagram(seed).figure
    assert figure["layout"]["meta"] == {"font_scale": 0.9627, "pixels_per_unit": 34}
    assert figure["layout"]["xaxis"]["range"] == [-0.6, 31.15]
    title = next(trace for trace in figure["data"] if trace.get("mode") == "text" and "<b>api-1</b>" in trace["text"])
    assert title["textfont"]["size"] == 10.6  # LABEL's 11 px × 0.9627


def test_three_nodes_put_four_pods_two_per_row_and_upper_veths_run_between_the_columns():
    """flannel-vxlan: 3 nodes × 4 pods. One row of 4 would make the diagram 53.65 units wide (labels at 0.72,
    overflowing their boxes on a 1366 projector); 2 per row makes it 34.9 × 16.1 and the labels 0.8728."""
    cluster = load_sample("flannel-vxlan")
    diagram = build_diagram(cluster)
    assert diagram.figure["layout"]["xaxis"]["range"] == [-0.6, 34.3]
    assert diagram.figure["layout"]["meta"]["font_scale"] == 0.8728
    node = cluster.node_by_name["node-1"]
    assert [p.name for p in cluster.pods_by_node["node-1"]] == ["backend-1", "debug", "frontend-1", "redis-1"]
    centre = {p.name: diagram.positions[position_key("node-1", p.key, "")] for p in cluster.pods_by_node["node-1"]}
    assert centre["frontend-1"][0] == centre["backend-1"][0] and centre["redis-1"][0] == centre["debug"][0]
    assert centre["debug"][0] == pytest.approx(centre["backend-1"][0] + 3.95)  # POD_W + POD_GAP
    assert centre["frontend-1"][1] == pytest.approx(centre["backend-1"][1] - 2.65)  # POD_H + the row gap
    veth = {d.pod: d.host_veth for d in node_devices(cluster, node).pods}
    at = {name: diagram.positions[position_key("node-1", HOST_NETNS, veth[f"default/{name}"])] for name in centre}
    # An upper pod's veth comes down the gap between the columns; a lower pod's just right of its eth0.
    assert at["backend-1"][0] == pytest.approx((centre["backend-1"][0] + centre["debug"][0]) / 2)
    assert at["frontend-1"][0] == pytest.approx(centre["frontend-1"][0] + 0.55)
    assert at["debug"][0] == pytest.approx(centre["debug"][0] + 1.975)  # right of the column, inside the node


def test_long_pod_names_are_cut_so_neighbours_never_touch_and_replicas_stay_apart(seed):
    titles = [t for t in texts(build_diagram(seed).figure) if t.startswith("<b>coredns")]
    assert titles == ["<b>coredns-…-2mcc9</b>", "<b>coredns-…-9v5v2</b>"]
    guestbook = [t for t in texts(build_diagram(load_sample("guestbook")).figure)
                 if t.startswith(("<b>frontend", "<b>redis-")) and "…" in t]
    assert sorted(guestbook) == ["<b>frontend-…-5nflt</b>", "<b>frontend-…-dkw6m</b>", "<b>frontend-…-drjsp</b>",
                                 "<b>redis-mas…-zmbjd</b>", "<b>redis-rep…-7qv29</b>", "<b>redis-rep…-m5kk5</b>"]
    # Only a ReplicaSet hash (has a digit) gives way; a StatefulSet's name part is kept as far as it fits.
    assert _short_pod_name("statefulset-name-0") == "statefulset-n…-0"
    assert _short_pod_name("web-1") == "web-1"


def test_presentation_labels_are_fewer_larger_and_marked_for_the_stylesheet(seed):
    """assets/netviz.css hides uid `nvp…` traces outside presentation mode and `nvn…` ones in it; the packet's
    points are the same in both (one geometry)."""
    figure = build_diagram(seed).figure
    labels = [t for t in figure["data"] if t.get("mode") == "text"]
    present = [t for t in labels if t["name"] == "present labels"]
    assert present == labels[-len(present):] and all(t["uid"].startswith("nvp") for t in present)
    assert all(t.get("uid", "nvn").startswith("nvn") for t in labels[:-len(present)])
    shown = texts(figure, present=True)
    assert [t for t in shown if "api" in t and "lb" not in t] == [
        "<b>api-1</b>", "<b>api-2</b>", "▣ api +1", "▣ api +1"]
    assert shown[shown.index("<b>api-1</b>") + 1] == "10.244.1.3"
    assert not [t for t in shown if t.startswith(("veth", "▢", "lo", "routes", "iptables:"))]
    assert "▣ api +1" not in texts(figure) and "▢ pause" in texts(figure)
    size = [t["textfont"]["size"] for t in labels if "<b>api-1</b>" in t["text"]]
    assert size == [10.6, 14.4]  # LABEL's 11 and P_POD's 15, × 0.9627
    assert [t["uid"] for t in figure["data"] if t.get("mode") == "lines" and t["name"] != "trail"] == [
        "nvl-veth-0", "nvl-uplink-1", "nvl-physical-network-2", "nvl-overlay-tunnel-3"]
    assert [t["name"] for t in figure["data"][-4:]] == ["trail", "highlight", "envelope", "packet"]


def test_service_boxes_list_each_port_once_and_keep_their_text_inside(seed):
    dns = next(s for s in seed.services if s.name == "kube-dns")
    assert [p.port for p in dns.ports] == [53, 53, 9153]
    assert "10.96.0.10:53,9153" in texts(build_diagram(seed).figure)
    assert _address(dns, SVC_W - 0.12, P_SVC) == "10.96.0.10:53,…"
    assert "10.96.0.10:53,…" in texts(build_diagram(seed).figure, present=True)
    assert _fit("→ search.example.com", SVC_W - 0.2, SVC_TEXT) == "→ search.example…"
    assert _text_width("<b>cloud load balancer</b>"[3:-4], LABEL.size, True) <= EXT_W - 0.2
    for name in ("seed-article", "flannel-vxlan", "flannel-host-gw", "guestbook"):
        cluster = load_sample(name)
        for svc in cluster.services:
            if svc.cluster_ip is not None:
                assert _text_width(_address(svc, SVC_W - 0.2, SVC_TEXT), SVC_TEXT.size) <= SVC_W - 0.2
        for pod in cluster.pods:
            assert _text_width(_fit_pod_name(pod.name, POD_W - 0.12, P_POD), P_POD.size, True) <= POD_W - 0.12
    assert _fit_pod_name("coredns-868cd75d4-2mcc9", POD_W - 0.12, P_POD) == "cor…-2mcc9"


def test_overview_tiles_say_pod_or_pods_and_what_is_not_ready():
    cluster = big_cluster(12, 6)
    nodes = [dataclasses.replace(n, ready=False) if n.name == "node-0" else n for n in cluster.nodes]
    pods = [dataclasses.replace(p, ready=False) if p.name in ("pod-1-0", "pod-1-3") else p for p in cluster.pods
            if p.node != "node-2" or p.name == "pod-2-0"]
    figure = build_diagram(dataclasses.replace(cluster, nodes=tuple(nodes), pods=tuple(pods))).figure
    labels = texts(figure)
    assert labels.count("6 pods") == 11 and labels.count("1 pod") == 1
    assert [t for t in labels if "✖" in t] == [
        "<b>12 nodes</b> · click a tile to expand it · colour: share of pods not ready, ✖ dark red: node NotReady",
        "✖ NotReady", "✖ 2 not ready"]
    # Colour by the share of pods not ready: node-1's 2 of 6 (33 %) is red; a NotReady node is dark red; the rest
    # (all pods ready) green.
    fills = Counter(s["fillcolor"] for s in figure["layout"]["shapes"])
    assert (fills["#7f1d1d"], fills["#fca5a5"], fills["#dcfce7"]) == (1, 1, 10)
    hovers = [h for t in figure["data"] if t.get("name") == "targets" for h in t["hovertext"]]
    assert hovers[:3] == ["node node-0 (10.0.0.10): 6 pods, node NotReady — click to expand",
                          "node node-1 (10.0.0.11): 6 pods, 2 not ready — click to expand",
                          "node node-2 (10.0.0.12): 1 pod — click to expand"]


def test_a_path_node_can_draw_only_the_flows_pods_and_a_more_box():
    """Opt-in (`DiagramView.path_pods`): a 30-pod node on a flow's path draws its path pods and `+29 more pods`,
    which expands the node when clicked; a clicked-open node still draws all its pods."""
    cluster = big_cluster(12, 30)
    a, b = cluster.pods_by_node["node-2"][4], cluster.pods_by_node["node-7"][9]
    view = DiagramView(path_nodes=frozenset({"node-2", "node-7"}), path_pods=frozenset({a.key, b.key}))
    figure = build_diagram(cluster, view).figure
    assert sorted(r for r in targets(figure) if r.startswith("pod:")) == sorted([f"pod:{a.key}", f"pod:{b.key}"])
    assert texts(figure).count("<b>+29 more pods</b>") == 2
    assert targets(figure).count("node:node-2") == 2  # the node's title and its `more` box
    opened = build_diagram(cluster, dataclasses.replace(view, expanded=frozenset({"node-2"}))).figure
    assert len([r for r in targets(opened) if r.startswith("pod:")]) == 31
    assert build_diagram(cluster, dataclasses.replace(view, path_pods=frozenset())).figure == build_diagram(
        cluster, DiagramView(path_nodes=view.path_nodes)).figure


def test_full_width_characters_are_measured_as_one_em_so_chinese_labels_fit_their_boxes():
    """Han characters and full-width punctuation (East_Asian_Width W/F) are one em wide in Noto Sans CJK SC, about
    two Latin letters: a Chinese label is cut to its box as an English one is."""
    em = LABEL.size / 34  # PIXELS_PER_UNIT
    assert _text_width("节点", LABEL.size) == pytest.approx(2 * em)
    assert _text_width("（：）", LABEL.size) == pytest.approx(3 * em)
    assert _text_width("节点 node", LABEL.size) == pytest.approx((2 + 0.34 + 4 * 0.62) * em)
    label = "集群外的客户端经负载均衡器访问服务"
    fitted = _fit(label, EXT_W - 0.2, LABEL)
    assert fitted.endswith("…") and len(fitted) < len(label)
    assert _text_width(fitted, LABEL.size) <= EXT_W - 0.2
    assert _text_width(_fit(label, EXT_W - 0.2, LABEL)[:-1] + label[len(fitted) - 1] + "…", LABEL.size) > EXT_W - 0.2


def test_the_diagram_and_the_packet_labels_speak_the_narration_language(seed):
    from webapp.narration import narration_language

    trace = trace_flow(seed, "pod/default/api-1", "pod/default/api-2:8080")
    english = build_diagram(seed)
    assert playback(english, trace)["labels"] == {"encapsulate": "VXLAN encap", "decapsulate": "decap",
                                                   "proxy": "proxy", "reply": "reply"}
    with narration_language("zh"):
        chinese = build_diagram(seed)
        assert playback(chinese, trace)["labels"] == {"encapsulate": "VXLAN 封装", "decapsulate": "解封装",
                                                      "proxy": "代理", "reply": "应答"}
    assert "physical network  192.168.0.0/24" in texts(english.figure)
    assert "节点网络  192.168.0.0/24" in texts(chinese.figure)
    assert "<b>外部客户端</b>" in texts(chinese.figure) and "<b>云负载均衡器</b>" in texts(chinese.figure)
    assert "VXLAN 隧道（VNI 1，UDP 4789）" in texts(chinese.figure)
    assert "<b>负载均衡器</b>" in texts(chinese.figure, present=True)
    assert english.positions == chinese.positions  # only words change, never where anything is drawn


def test_an_external_name_to_an_undeclared_host_is_drawn_with_its_address_unknown():
    """Issue 17, item 9: `db.example.com (address unknown)` gets a box of its own outside the cluster, and the
    trace's last hop lands on it."""
    from webapp.loaders import load_sources

    text = ("name: en\nnodes:\n  - {name: node-1, ip: 192.168.0.11, pods: [{name: client, containers: [{name: app}]}]}"
            "\nservices:\n  - {name: db, type: ExternalName, externalName: db.example.com, ports: [5432]}\n")
    cluster = load_sources([("en.yaml", text.encode())]).cluster
    diagram = build_diagram(cluster)
    labels = texts(diagram.figure)
    assert "<b>db.example.com</b>" in labels
    assert "address unknown" in labels
    assert "ext:db.example.com (address unknown)" in targets(diagram.figure)
    trace = trace_flow(cluster, "pod/default/client", "svc/default/db:5432")
    assert trace.hops[-1].device == "db.example.com (address unknown)"
    assert playback(diagram, trace)["points"][-1] == diagram.positions["external|db.example.com (address unknown)"]
    assert diagram.positions["external|db.example.com (address unknown)"] != diagram.positions["external|client"]


def test_the_load_balancer_box_names_its_model_in_normal_labels_and_keeps_two_lines_when_presenting(seed):
    figure = build_diagram(seed).figure
    normal, present = texts(figure), texts(figure, present=True)
    assert "proxy → nodePort" in normal  # the seed cluster says loadBalancer.mode: proxy
    assert "<b>cloud load balancer</b>" in normal and "203.0.113.100" in normal
    assert "proxy → nodePort" not in present  # a third line would overlap the address at projector size
    assert "<b>load balancer</b>" in present and "203.0.113.100" in present


def test_an_overviews_outside_world_and_network_are_drawn_at_a_size_the_browser_keeps():
    """assets/netviz.js hides an overview's labels under MIN_LABEL_PX; the ones naming the outside world, the load
    balancer and the physical network are drawn at the tiles' size so they stay (a box is never left blank)."""
    figure = build_diagram(big_cluster(12, 6)).figure
    scale = figure["layout"]["meta"]["font_scale"]
    design = {text: round(trace["textfont"]["size"] / scale) for trace in figure["data"]
              if trace.get("mode") == "text" and not trace.get("uid", "").startswith("nvp") for text in trace["text"]}
    assert design["<b>external client</b>"] == 14
    assert design["<b>load balancer</b>"] == 14
    assert design["physical network  10.0.0.0/16"] == 14
    assert "internet" not in design  # the second line does not fit an overview's box


def test_a_container_to_container_flow_draws_its_pods_namespace_in_presentation_mode(seed):
    """Issue 10: presentation mode kept only a pod's name, IP and first app, so container to container lost the
    pause container and lo; the flow's pod now shows them at presentation size, where the packet stops."""
    from webapp.figures.player import trace_view

    trace = trace_flow(seed, "pod/default/web-1:log-agent", "localhost:80")
    view = trace_view(seed, trace)
    assert view.inside == frozenset({"default/web-1"})
    diagram = build_diagram(seed, view)
    present = [label for t in diagram.figure["data"] if t.get("mode") == "text" and t.get("uid", "").startswith("nvp")
               for label in t["text"]]
    assert ["▢ pause", "▣ nginx", "▣ log-agent"] == [x for x in present if x in ("▢ pause", "▣ nginx", "▣ log-agent")]
    assert present.count("lo") == 1
    pos = diagram.positions
    assert pos["node-1|default/web-1|nginx"][1] - pos["node-1|default/web-1|log-agent"][1] == pytest.approx(0.37)
    plain = build_diagram(seed, trace_view(seed, trace_flow(seed, "pod/default/api-1", "pod/default/web-1:80")))
    assert "▢ pause" not in [label for t in plain.figure["data"] if t.get("uid", "").startswith("nvp")
                             for label in t["text"]]


def test_every_label_of_a_tile_overview_is_drawn_at_a_size_the_browser_keeps():
    """At the browser's smallest scale (0.72) a label of 14 is still 10 px (MIN_LABEL_PX): the tiles, their header
    and the outside world never vanish at 1366×768. Only the services band's title may (its boxes say it)."""
    figure = build_diagram(big_cluster(12, 6, services=30)).figure
    scale = figure["layout"]["meta"]["font_scale"]
    small = [trace["text"] for trace in figure["data"] if trace.get("mode") == "text"
             and not trace.get("uid", "").startswith("nvp") and trace["textfont"]["size"] / scale < 14]
    assert small == [["<b>Services</b>"]]
    tile = [trace["text"] for trace in figure["data"] if trace.get("mode") == "text" and "<b>node-0</b>" in trace["text"]]
    assert tile[0][:2] == ["<b>node-0</b>", "6 pods"]
