"""The views over the diagram, rendered without a browser: the kube-proxy mode comparison (webapp.app.modes_view)
and the page wiring (a button in the picker row, the view over the diagram)."""

from __future__ import annotations

import pytest

from webapp.app import modes_view
from webapp.app.layout import build_layout
from webapp.loaders import load_sample


@pytest.fixture(scope="module")
def seed():
    """One cluster object for the module: its 5,000-service growth and rulesets are computed once."""
    return load_sample("seed-article")


def walk(component):
    """Every component of a tree, depth first."""
    if isinstance(component, (list, tuple)):
        for child in component:
            yield from walk(child)
        return
    if component is None or isinstance(component, (str, int, float)):
        return
    yield component
    yield from walk(getattr(component, "children", None))


def words(component) -> str:
    """The text a person reads in a component (its strings, in order, joined by single spaces)."""
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(w for w in (words(c) for c in component) if w)
    return words(getattr(component, "children", None) or "")


def cells(body, row: str) -> list[str]:
    return [words(c) for c in walk(body) if getattr(c, "className", None) == row and type(c).__name__ == "Td"]


def test_a_pod_to_pod_flow_goes_through_no_service_in_any_mode(seed):
    body = modes_view.comparison(seed, "pod/default/api-1", "pod/default/api-2:8080")
    assert words(body[0]) == "The same flow, pod/default/api-1 → pod/default/api-2:8080, under each kube-proxy mode."
    assert cells(body, "outcome") == ["Delivered"] * 4
    assert cells(body, "lookup") == ["this flow goes through no Service"] * 4
    assert cells(body, "decided") == ["no kube-proxy rule acts on this flow"] * 4
    assert cells(body, "scale") == [
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)",
        "1 lookup(s) in the IPVS service table at worst, whichever of the 5,001 service ports",
        "1 verdict-map lookup(s) at worst, whichever of the 5,001 service ports",
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)"]


def test_a_node_port_is_found_after_every_kube_services_rule_in_iptables_mode_in_chinese(seed):
    from webapp.narration import narration_language

    with narration_language("zh"):
        body = modes_view.comparison(seed, "203.0.113.10", "node/node-1:30081")
        assert cells(body, "lookup") == ["在该 Service 自己的规则之前比较了 10 条规则", "在 IPVS 服务表中查找 1 次",
                                         "2 次 verdict map 查找", "在该 Service 自己的规则之前比较了 0 条规则"]
        assert cells(body, "rules")[0] == "node-1：90 条规则 node-2：90 条规则"


def test_the_view_button_ends_the_picker_row_and_the_view_opens_over_the_diagram():
    page = build_layout([("seed-article", "The seed article")], tools=[modes_view.open_button()],
                        overlays=[modes_view.panel()])
    picker = next(c for c in walk(page) if getattr(c, "className", None) == "picker")
    assert [c.id for c in walk(picker) if getattr(c, "id", None) == modes_view.Id.OPEN] == ["modes-open"]
    frame = next(c for c in walk(page) if getattr(c, "className", None) == "diagram-frame")
    assert [getattr(c, "id", None) for c in frame.children] == ["diagram", "modes-panel"]
    assert frame.children[1].className == "view-overlay"


# --- the reachability matrix (webapp.app.matrix_view, webapp.figures.matrix) ----------------------------------

import base64  # noqa: E402
from pathlib import Path  # noqa: E402

from webapp.app import matrix_view, state  # noqa: E402
from webapp.app.cache import open_cache  # noqa: E402
from webapp.figures.matrix import matrix_figure  # noqa: E402
from webapp.engine.policy_matrix import policy_matrix  # noqa: E402
from webapp.variants import ViewSettings  # noqa: E402

ALLOW_DEBUG = (Path(__file__).parent / "data" / "policies" / "allow-debug.yaml").read_bytes()
"""Two policies that let frontend/debug call backend/api on 8080 (the browser test uploads the same file)."""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return open_cache(str(tmp_path_factory.mktemp("views-cache")))


@pytest.fixture(scope="module")
def shop_key(cache):
    return state.load_sample_into(cache, "policy-shop").key


def upload(data: bytes) -> str:
    return "data:application/x-yaml;base64," + base64.b64encode(data).decode()


def test_the_matrix_opens_on_the_flows_port_else_the_first_a_policy_names(cache, shop_key):
    shop = cache.get(shop_key)
    assert matrix_view.default_port(shop, "pod/backend/api-1:8080") == 8080
    assert matrix_view.default_port(shop, "pod/frontend/web-1:http") == 53  # a name: allow-dns' 53/UDP comes first
    assert matrix_view.default_port(shop, None) == 53
    assert matrix_view.default_port(load_sample("seed-article"), None) == 8080  # no policy: the first pod port


def test_a_click_on_a_cell_asks_for_the_pair_on_the_matrix_port(cache, shop_key):
    shop = cache.get(shop_key)
    click = {"points": [{"customdata": ["frontend/debug", "backend/api-1"]}]}
    assert matrix_view.cell_request(click, 8080, shop) == {"src": "pod/frontend/debug",
                                                          "dst": "pod/backend/api-1:8080"}
    assert matrix_view.cell_request({"points": [{"customdata": ["frontend/debug", "frontend/debug"]}]}, 80,
                                    shop) is None  # a pod to itself
    assert matrix_view.cell_request({"points": [{"customdata": ["frontend/debug", "a/gone"]}]}, 80, shop) is None
    assert matrix_view.cell_request(click, 8080, None) is None  # the cluster left the cache
    assert matrix_view.cell_request({"points": [{"customdata": "pod:x"}]}, 80, shop) is None
    assert matrix_view.cell_request(None, 80, shop) is None


def test_the_controller_picks_a_requested_pair_with_the_engines_flow_type(cache, shop_key):
    out = state.on_request(cache, shop_key, {"src": "pod/frontend/debug", "dst": "pod/backend/api-1:8080"})
    assert (out["type"], out["src"], out["dst"]) == ("pod-to-pod-same-node", "pod/frontend/debug",
                                                     "pod/backend/api-1:8080")
    assert state.on_request(cache, shop_key, {"src": "pod/frontend/ghost", "dst": "pod/backend/api-1:8080"}) == {}
    assert state.on_request(cache, shop_key, {"src": 3}) == {}


def test_switching_a_policy_off_frames_the_cells_it_changed(cache, shop_key):
    settings = ViewSettings(policies_off=frozenset({"backend/api"}))
    cluster, after, before = matrix_view.matrices(cache, shop_key, None, settings, 8080, "TCP", None)
    drawn = matrix_figure(cluster, after, before)
    # backend/api let the web pods in on 8080: without it, backend's default deny drops them
    assert drawn.changed == (("frontend/web-1", "backend/api-1"), ("frontend/web-1", "backend/api-2"),
                             ("frontend/web-2", "backend/api-1"), ("frontend/web-2", "backend/api-2"))
    assert [t["name"] for t in drawn.figure["data"]] == ["allowed", "denied", "changed", "marks", "cells"]
    cells = drawn.figure["data"][-1]
    index = cells["customdata"].index(["frontend/web-1", "backend/api-1"])
    assert cells["hovertext"][index] == (
        "frontend/web-1 → backend/api-1: denied<br>changed: it was allowed<br>selected by backend/allow-dns, "
        "backend/default-deny (default deny): no<br>rule allows port 8080/TCP from frontend/web-1")
    figure, lines = matrix_view.view(cache, shop_key, None, settings, 8080, "TCP", None)
    assert [words(line) for line in lines] == [
        "Port 8080/TCP · 8 pods: 10 allowed, 54 denied, 0 would be denied but are not enforced",
        "canal enforces NetworkPolicy: a denied connection is dropped.",
        "✓ allowed ✗ denied ! would be denied, not enforced changed",
        "4 cell(s) changed against every policy applied and none added (framed in blue; hover a cell for what it "
        "was).",
        "Rows: from, columns: to. Click a cell to trace that pair on port 8080."]


def test_on_flannel_the_same_cells_would_be_denied_and_are_not_enforced(cache, shop_key):
    figure, lines = matrix_view.view(cache, shop_key, None, ViewSettings(network_plugin="flannel"), 8080, "TCP",
                                     None)
    assert [words(line) for line in lines[:2]] == [
        "Port 8080/TCP · 8 pods: 14 allowed, 0 denied, 50 would be denied but are not enforced",
        "flannel does not enforce NetworkPolicy: a connection the policies deny is delivered all the same."]
    assert [t["name"] for t in figure["data"]] == ["allowed", "not-enforced", "marks", "cells"]


def test_an_uploaded_policy_makes_a_new_cluster_and_the_matrix_compares_with_the_one_before(cache, shop_key):
    done = matrix_view.add_policies(cache, shop_key, None, [upload(ALLOW_DEBUG)], ["allow-debug.yaml"])
    assert done["status"] == ("Added 2 policy(ies): backend/allow-debug, frontend/debug-to-api. The diagram traces "
                              "with them; the matrix frames the cells that changed.")
    assert done["added"] == {"base": shop_key, "derived": done["key"],
                             "policies": ["backend/allow-debug", "frontend/debug-to-api"]}
    assert "backend/allow-debug" in done["policies"] and cache.get(shop_key).network_policies != \
        cache.get(done["key"]).network_policies
    cluster, after, before = matrix_view.matrices(cache, done["key"], done["added"], ViewSettings(), 8080, "TCP",
                                                  None)
    assert matrix_figure(cluster, after, before).changed == (("frontend/debug", "backend/api-1"),
                                                            ("frontend/debug", "backend/api-2"))
    assert after.reason(cluster, "frontend/debug", "backend/api-1") == (
        "allowed by frontend/debug-to-api spec.egress[0].to[0] spec.egress[0].ports[0]: port 8080/TCP to "
        "backend/api-1; allowed by backend/allow-debug spec.ingress[0].from[0] spec.ingress[0].ports[0]: port "
        "8080/TCP from frontend/debug")
    # the debug pod egress alone, without its ingress counterpart: still denied by backend's default deny
    only_egress = matrix_view.add_policies(cache, shop_key, None, [upload(ALLOW_DEBUG.split(b"---")[1])], ["e.yaml"])
    cluster, after, before = matrix_view.matrices(cache, only_egress["key"], only_egress["added"], ViewSettings(),
                                                  8080, "TCP", None)
    assert matrix_figure(cluster, after, before).changed == ()


def test_an_upload_without_a_policy_or_with_an_error_adds_nothing(cache, shop_key):
    empty = matrix_view.add_policies(cache, shop_key, None, [upload(b"kind: Namespace\napiVersion: v1\n"
                                                                    b"metadata: {name: extra}\n")], ["ns.yaml"])
    assert empty == {"status": "ns.yaml: no NetworkPolicy in it"}
    broken = matrix_view.add_policies(cache, shop_key, None, [upload(b"kind: NetworkPolicy\napiVersion: "
                                                                     b"networking.k8s.io/v1\nmetadata: {name: x}\n"
                                                                     b"spec: {}\n")], ["bad.yaml"])
    assert list(broken) == ["status"] and broken["status"][0].startswith("bad.yaml:")


def test_the_url_restores_the_network_plugin_and_the_policies_switched_off(cache, shop_key):
    out = state.on_url(cache, "?sample=policy-shop&plugin=flannel&off=backend/api,nobody/none", "seed-article")
    assert (out["plugin"], out["policies_off"]) == ("flannel", ["backend/api"])
    assert [o["value"] for o in out["plugin_options"]] == ["canal", "flannel"]
    assert out["plugin_placeholder"] == "as loaded (canal)"
    assert out["policies_off_options"][:3] == [{"label": k, "value": k} for k in
                                               ("backend/allow-dns", "backend/api", "backend/default-deny")]


def test_the_policies_that_select_a_pod_are_marked_on_it_and_named_in_its_hover(cache, shop_key):
    from webapp.figures import build_diagram
    from webapp.variants import apply_view_settings

    def marks(cluster):
        figure = build_diagram(cluster).figure
        targets = next(t for t in figure["data"] if t["name"] == "targets")
        hovers = dict(zip(targets["customdata"], targets["hovertext"]))
        labels = [label for t in figure["data"] if t.get("mode") == "text" for label in t["text"]
                  if label.startswith("NP ")]
        return labels, hovers

    shop = cache.get(shop_key)
    labels, hovers = marks(shop)
    assert sorted(labels) == ["NP 2", "NP 3", "NP 3", "NP 3", "NP 3", "NP 3"]  # debug: no web/api policy selects it
    assert hovers["pod:backend/api-1"] == ("pod backend/api-1<br>10.244.0.3 on node-1<br>selected by NetworkPolicy "
                                           "backend/allow-dns, backend/api, backend/default-deny")
    assert hovers["pod:kube-system/coredns-868cd75d4-2mcc9"] == "pod kube-system/coredns-868cd75d4-2mcc9<br>10.244.0.5 on node-1"
    _, hovers = marks(apply_view_settings(shop, ViewSettings(network_plugin="flannel")))
    assert hovers["pod:frontend/debug"] == ("pod frontend/debug<br>10.244.0.4 on node-1<br>selected by NetworkPolicy "
                                            "frontend/allow-dns, frontend/default-deny (not enforced: flannel)")


# --- the inspector on a policy hop (webapp.app.policy_panel) ------------------------------------------------------

from types import SimpleNamespace  # noqa: E402

from webapp.app.policy_panel import policy_panel, rule_reference  # noqa: E402


def yaml_of(panel) -> list[tuple[str, bool]]:
    return [(span.children.rstrip("\n"), span.className == "match") for pre in walk(panel)
            if type(pre).__name__ == "Pre" for span in pre.children]


def test_rule_references_are_read_back_to_indexes():
    assert rule_reference("spec.ingress[0].from[1]", "spec.ingress[0].ports[2]") == (0, 1, 2)
    assert rule_reference("spec.egress[3]", "") == (3, None, None)
    assert rule_reference("", "") is None


def test_an_allowing_rule_is_shown_with_its_matching_peer_and_port_highlighted(cache, shop_key):
    check = SimpleNamespace(direction="ingress", pod="backend/api-1", basis="rule", policy="backend/api",
                            rule="spec.ingress[0].from[0]", port_rule="spec.ingress[0].ports[0]",
                            selecting=("backend/allow-dns", "backend/api", "backend/default-deny"))
    panel = policy_panel(cache.get(shop_key), check)
    assert words(panel.children[0]) == ("Allowed by backend/api (spec.ingress[0].from[0] spec.ingress[0].ports[0]): "
                                        "the matching peer and port highlighted")
    assert yaml_of(panel) == [
        ("# NetworkPolicy backend/api", False), ("spec:", False),
        ("  podSelector: {matchLabels: {app: api}}", False), ("  policyTypes: [Ingress, Egress]", False),
        ("  ingress:", False), ("  - from:", False),
        ("    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}", True),
        ("      podSelector: {matchLabels: {app: web}}", True),
        ("    ports:", False), ("    - {port: http-api, protocol: TCP}", True)]


def test_a_default_deny_shows_every_selecting_policy_with_its_pod_selector_highlighted(cache, shop_key):
    check = SimpleNamespace(direction="ingress", pod="backend/api-1", basis="default-deny", policy=None, rule="",
                            port_rule="", selecting=("backend/allow-dns", "backend/api", "backend/default-deny"))
    panel = policy_panel(cache.get(shop_key), check)
    assert words(panel.children[0]) == ("The policies selecting backend/api-1 for ingress (their podSelector "
                                        "highlighted): none of their rules allows it")
    assert [line for line in yaml_of(panel) if line[1]] == [
        ("  podSelector: {}", True), ("  ingress: []", True),                    # backend/allow-dns: egress rules only
        ("  podSelector: {matchLabels: {app: api}}", True),                       # backend/api
        ("  podSelector: {}", True), ("  ingress: []", True)]                    # backend/default-deny
    assert policy_panel(cache.get(shop_key), SimpleNamespace(direction="egress", basis="not-selected")) is None


def test_the_policy_hops_of_an_allowed_flow_show_the_rules_that_let_it_through(cache, shop_key):
    from webapp.app.inspector import hop_panel

    shop = cache.get(shop_key)
    trace = state.trace(shop, "pod/frontend/web-1", "pod/backend/api-1:8080")
    hops = [(i, hop) for i, hop in enumerate(trace.hops) if hop.kind == "policy"]
    assert [(hop.policy.direction, hop.policy.policy, hop.policy.rule, hop.policy.port_rule) for _, hop in hops] == [
        ("egress", "frontend/web", "spec.egress[0].to[0]", "spec.egress[0].ports[0]"),
        ("ingress", "backend/api", "spec.ingress[0].from[0]", "spec.ingress[0].ports[0]")]
    (_, egress), (i, ingress) = hops
    panel = next(c for c in walk(hop_panel(ingress, trace.hops[i - 1], f"q{i}", shop))
                 if getattr(c, "className", None) == "policy-panel")
    assert words(panel.children[0]) == ("Allowed by backend/api (spec.ingress[0].from[0] spec.ingress[0].ports[0]): "
                                        "the matching peer and port highlighted")
    assert [line for line, matched in yaml_of(panel) if matched] == [
        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}",
        "      podSelector: {matchLabels: {app: web}}", "    - {port: http-api, protocol: TCP}"]
    # without the cluster (an export, say) the hop shows its rule and no policy
    assert not [c for c in walk(hop_panel(ingress, trace.hops[i - 1], f"q{i}"))
                if getattr(c, "className", None) == "policy-panel"]


def test_a_udp_matrix_says_which_protocol_a_click_traces(cache, shop_key):
    _, lines = matrix_view.view(cache, shop_key, None, ViewSettings(), 53, "UDP", None)
    assert words(lines[0]) == "Port 53/UDP · 8 pods: 22 allowed, 42 denied, 0 would be denied but are not enforced"
    assert words(lines[-1]) == ("The diagram traces a port with the protocol the destination pod declares for it: "
                                "UDP when it declares the port only as UDP, else TCP.")


def test_a_big_grid_leaves_the_reasons_to_the_trace():
    from benchmarks.generate_cluster import dump_json, generate_dump
    from webapp.figures.matrix import REASONS_MAX
    from webapp.loaders import load_sources

    big = load_sources([("g.json", dump_json(generate_dump(2, pods_per_node=29)).encode())]).cluster
    matrix = policy_matrix(big, 80)
    assert len(matrix.pods) > REASONS_MAX == 30
    cells = matrix_figure(big, matrix).figure["data"][-1]
    assert cells["name"] == "cells" and len(cells["hovertext"]) == len(matrix.pods) ** 2
    assert all("<br>" not in hover for hover in cells["hovertext"])


# --- the page's view settings, one group for every callback (webapp.app.view_settings) ------------------------------

from webapp.app import view_settings  # noqa: E402
from webapp.app.factory import create_app  # noqa: E402
from webapp.model import KubeProxyMode, NetworkPlugin, Overlay, TrafficPolicy  # noqa: E402


def test_the_view_settings_group_reads_into_view_settings():
    assert view_settings.of({"mode": "ipvs", "overlay": "flannel-host-gw", "policy": "Local", "down": ["a/b", ""],
                             "plugin": "canal", "policies_off": ["backend/api"]}) == ViewSettings(
        KubeProxyMode.IPVS, Overlay.FLANNEL_HOST_GW, TrafficPolicy.LOCAL, frozenset({"a/b"}), NetworkPlugin.CANAL,
        frozenset({"backend/api"}))
    assert view_settings.of({"plugin": "flannel", "policies_off": None}) == ViewSettings(
        network_plugin=NetworkPlugin.FLANNEL)


def test_every_callback_that_draws_or_exports_the_flow_reads_every_what_if(tmp_path):
    """The diagram and both export buttons take all six settings; the mode comparison all but the mode it varies;
    the matrix the two that change who may reach whom."""
    app = create_app(cache=str(tmp_path), warm=False)

    def settings_of(output: str) -> list[str]:
        [spec] = [spec for out, spec in app.callback_map.items() if out.startswith(output)]
        return [d["id"] for d in (*spec["inputs"], *spec["state"]) if d["id"].startswith("setting-")]

    every = ["setting-mode", "setting-overlay", "setting-policy", "setting-down", "setting-plugin",
             "setting-policies-off"]
    assert settings_of("..diagram.figure") == every
    assert settings_of("..export-download.data") == every
    assert settings_of("..export-lesson-download.data") == every
    assert settings_of("..modes-panel.className...modes-body") == every[1:]
    assert settings_of("..matrix-panel.className...matrix-graph") == ["setting-plugin", "setting-policies-off"]
