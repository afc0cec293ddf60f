"""The controller's triggers as plain functions of webapp.app.state (URL, sample, upload, paste, click, flow type,
source), the what-if variant memo, and the rules that keep the app typed: no flow-type string literals in
webapp/app, no component id spelled in assets/netviz.js."""

import ast
import base64
import gc
import json
import re
import weakref
from pathlib import Path

import pytest

from webapp.app import state
from webapp.app.cache import open_cache
from webapp.app.layout import Id, build_layout, client_ids
from webapp.engine.topology import topology
from webapp.engine.flows import FlowType
from webapp.model import KubeProxyMode
from webapp.variants import ViewSettings

ROOT = Path(__file__).resolve().parents[1]
SEED_FIRST = ("container-to-container", "pod/default/api-1:api", "localhost:6379")
"""The seed article's first choice: api-1's app container to its redis sidecar."""
URL_PARAMETERS = {"step"}
"""Query parameter names netviz.js writes (`?step=3`); `step` happens to be Id.STEP's value too."""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return open_cache(str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def seed_key(cache):
    return state.load_sample_into(cache, "seed-article").key


def test_no_flow_type_string_literals_in_the_app():
    values = {str(t) for t in FlowType}
    found = [(path.name, node.lineno, node.value) for path in (ROOT / "webapp" / "app").glob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value in values]
    assert found == []


def test_netviz_js_takes_every_component_id_from_the_page():
    script = (ROOT / "assets" / "netviz.js").read_text()
    quoted = set(re.findall(r'"([^"\\]*)"', script)) | set(re.findall(r"'([^'\\]*)'", script))
    assert quoted & {str(member) for member in Id} == URL_PARAMETERS
    assert {f"#{member}" for member in Id} & quoted == set()
    used = set(re.findall(r"(?:ids\(\)|id)\.([A-Z_]+)", script))
    assert used == {"DIAGRAM", "PLAY", "BACK", "FORWARD", "RESTART", "PRESENT", "STEP", "UPLOAD", "UPLOAD_STATUS",
                    "UPLOAD_PROGRESS", "UPLOAD_RESULT", "SAMPLE", "PASTE", "PASTE_LOAD", "CLUSTER_LOADED"}
    assert used <= {member.name for member in Id}
    table = json.loads(client_ids())
    assert table == {member.name: str(member) for member in Id}
    page = build_layout([("seed-article", "Seed")]).to_plotly_json()["props"]
    assert json.loads(page["data-netviz-ids"])["PLAY"] == "player-play"


def test_on_url_restores_the_flow_settings_view_and_step(cache, seed_key):
    out = state.on_url(cache, "?sample=seed-article&type=pod-to-pod-cross-node&src=pod/default/api-1"
                              "&dst=pod/default/api-2:8080&mode=ipvs&etp=Local&down=default/web-1&ns=kube-system"
                              "&expand=node-1,ghost&step=7", "seed-article")
    assert (out["key"], out["sample"], out["name"]) == (seed_key, "seed-article", "seed-article")
    assert (out["type"], out["src"], out["dst"]) == ("pod-to-pod-cross-node", "pod/default/api-1",
                                                     "pod/default/api-2:8080")
    assert (out["mode"], out["overlay"], out["policy"], out["down"]) == ("ipvs", None, "Local", ["default/web-1"])
    assert (out["namespace"], out["view"], out["initial_step"]) == ("kube-system",
                                                                    {"expanded": ["node-1"], "focus": None,
                                                                     "groups": []}, 7)
    assert "status" not in out


def test_on_url_with_an_unknown_cluster_key_falls_back_and_says_so(cache, seed_key):
    out = state.on_url(cache, "?cluster=" + "e" * 64, "seed-article")
    assert out["key"] == seed_key and out["sample"] == "seed-article"
    assert out["status"] == state.Status(warning="That cluster is no longer in the server cache; load it again.")
    assert (out["type"], out["src"], out["dst"]) == SEED_FIRST


def test_on_sample_loads_another_sample_and_keeps_the_flow_type(cache, seed_key):
    assert state.on_sample(cache, "seed-article", seed_key, FlowType.POD_TO_SERVICE) == {}
    assert state.on_sample(cache, None, seed_key, FlowType.POD_TO_SERVICE) == {}
    out = state.on_sample(cache, "flannel-vxlan", seed_key, FlowType.NODEPORT)
    assert out["status"] == "" and out["name"] == "flannel-vxlan" and out["initial_step"] is None
    assert (out["type"], out["src"], out["dst"]) == ("nodeport", "203.0.113.10", "node/node-1:30080")


def test_on_upload_and_on_paste_load_or_say_why_not(cache):
    data = (b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: solo\n  labels: {app: solo}\n"
            b"spec:\n  containers:\n  - name: c\n    image: nginx\n")
    url = "data:application/x-yaml;base64," + base64.b64encode(data).decode()
    out = state.on_upload(cache, [url], ["solo.yaml"], None, 1_000_000)
    assert out["sample"] is None and out["status"].file_count == 1 and out["status"].outcome.key == out["key"]
    too_big = state.on_upload(cache, [url], ["solo.yaml"], None, 100)
    assert set(too_big) == {"status"} and too_big["status"].outcome.messages == (
        "solo.yaml is 0.00012 MB, over this server's upload limit of 0.0001 MB. To load it, restart the server "
        "with a larger limit: k8s-netviz serve --max-upload-mb N",)
    assert state.on_paste(cache, "  ", None, 1_000_000) == {
        "status": state.Status(state.LoadOutcome(None, messages=("Nothing to load: the paste box is empty",)))}
    pasted = state.on_paste(cache, data.decode(), None, 1_000_000)
    assert pasted["status"].file_count == 1 and pasted["key"] not in (None, out["key"])  # another file name
    assert set(cache.get(pasted["key"]).pod_by_key) == set(cache.get(out["key"]).pod_by_key) == {
        "default/solo", "kube-system/coredns-868cd75d4-2mcc9", "kube-system/coredns-868cd75d4-9v5v2"}


def test_on_click_toggles_nodes_filters_namespaces_and_picks_pods(cache, seed_key):
    def click(ref):
        return {"points": [{"customdata": ref}]}

    view = {"expanded": ["node-1"], "focus": None}
    assert state.on_click(cache, seed_key, click("node:node-1"), None, None, view) == {
        "view": {"expanded": [], "focus": None, "groups": []}}
    assert state.on_click(cache, seed_key, click("node:node-2"), None, None, view) == {
        "view": {"expanded": ["node-1", "node-2"], "focus": None, "groups": []}}
    assert state.on_click(cache, seed_key, click("ns:kube-system"), None, None, view) == {"namespace": "kube-system"}
    assert state.on_click(cache, seed_key, {"points": [{}]}, None, None, view) == {}
    out = state.on_click(cache, seed_key, click("pod:default/api-2"), FlowType.POD_TO_POD_CROSS_NODE,
                         "pod/default/api-1", view)
    assert (out["type"], out["src"], out["dst"], out["initial_step"]) == (
        "pod-to-pod-cross-node", "pod/default/api-1", "pod/default/api-2:8080", None)
    assert state.on_click(cache, "f" * 64, click("node:node-1"), None, None, view) == {
        "status": state.Status(warning="That cluster is no longer in the server cache; load it again.")}


def test_on_flow_type_and_on_source_keep_what_still_fits(cache, seed_key):
    out = state.on_flow_type(cache, seed_key, FlowType.POD_TO_EXTERNAL, "pod/default/api-1")
    assert (out["type"], out["src"], out["dst"]) == ("pod-to-external", "pod/default/api-1", "203.0.113.10:443")
    assert out["type_options"][0] == {"label": "Container to container (same pod)",
                                      "value": "container-to-container"}
    kept = state.on_source(cache, seed_key, FlowType.POD_TO_SERVICE, "pod/default/api-1", "svc/default/db:5432")
    assert (kept["src"], kept["dst"]) == ("pod/default/api-1", "svc/default/db:5432")
    moved = state.on_source(cache, seed_key, FlowType.POD_TO_SERVICE, "pod/default/web-2", "svc/default/nope:1")
    assert (moved["src"], moved["dst"]) == ("pod/default/web-2", "svc/default/api-lb:80")


def test_flow_types_from_the_browser_are_parsed_at_the_edge():
    assert state.flow_type_of_value("nodeport") is FlowType.NODEPORT
    assert state.flow_type_of_value("banana") is None and state.flow_type_of_value(None) is None


def test_a_what_if_variant_is_built_once_and_the_memo_is_bounded(cache, seed_key):
    seed = cache.get(seed_key)
    ipvs = ViewSettings(kube_proxy_mode=KubeProxyMode.IPVS)
    first = state.variant(seed_key, seed, ipvs)
    assert state.variant(seed_key, seed, ViewSettings.parse("ipvs")) is first  # the same key and settings
    assert state.variant(seed_key, seed, ViewSettings()) is seed
    topology(first).build_all()  # the engine's memo of a variant's topology refers back to the variant
    gone = weakref.ref(first)
    del first
    others = [ViewSettings(mode, down_pods=frozenset({pod})) for pod in sorted(seed.pod_by_key)
              for mode in (None, KubeProxyMode.USERSPACE)][: state.VARIANT_ITEMS]
    assert len(others) == state.VARIANT_ITEMS
    for settings in others:  # as many other variants as the memo holds
        state.variant(seed_key, seed, settings)
    gc.collect()
    assert gone() is None  # evicted, and the engine's memo of it with it
    assert len(state._variants) == state.VARIANT_ITEMS
