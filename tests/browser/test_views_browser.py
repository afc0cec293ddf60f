"""The views that open over the diagram, in headless Chromium: the kube-proxy mode comparison (issue 15) and the
NetworkPolicy reachability matrix (issue 13)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers import wait_ready

pytestmark = pytest.mark.browser

SHOTS = "views"

KUBE_PROXY_LABEL_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  if (!gd || !gd.data) return [];
  return gd.data.filter(t => t.mode === 'text').flatMap(t => t.text).filter(s => s.startsWith('<b>kube-proxy</b> ('));
}"""


def choose(page, dropdown: str, label: str, multi: bool = False) -> None:
    """Open a dcc.Dropdown and click the option showing `label` (a multi-select stays open: Escape closes it)."""
    page.click(f"#{dropdown}")
    page.click(f".dash-dropdown-option:has-text('{label}')")
    if multi:
        page.keyboard.press("Escape")


def kube_proxy_labels(page, mode: str) -> list[str]:
    page.wait_for_function(f"() => ({KUBE_PROXY_LABEL_JS})().every(s => s.endsWith('({mode})'))")
    return page.evaluate(KUBE_PROXY_LABEL_JS)


def test_switching_to_nftables_and_back_and_comparing_the_modes(page, server_url, artifacts):
    query = urlencode({"sample": "seed-article", "type": "pod-to-service", "src": "pod/default/api-1",
                       "dst": "svc/default/api-lb:80"})
    page.goto(f"{server_url}/?{query}")
    wait_ready(page)
    assert kube_proxy_labels(page, "iptables") == ["<b>kube-proxy</b> (iptables)"] * 2

    # nftables: the kube-proxy box of both nodes says so, and the service is found in verdict map service-ips.
    choose(page, "setting-mode", "nftables (GA since Kubernetes 1.33)")
    assert kube_proxy_labels(page, "nftables") == ["<b>kube-proxy</b> (nftables)"] * 2
    page.wait_for_function("() => new URLSearchParams(location.search).get('mode') === 'nftables'")
    rules = page.eval_on_selector_all(".hop-panel code.rule", "els => els.map(e => e.textContent)")
    assert "kube-proxy service-ips: 10.96.0.11 . tcp . 80 : goto service-RI7FT74Q-default/api-lb/tcp/" in rules
    page.screenshot(path=str(artifacts / "views-nftables-mode.png"))

    # …and back to iptables.
    choose(page, "setting-mode", "iptables")
    assert kube_proxy_labels(page, "iptables") == ["<b>kube-proxy</b> (iptables)"] * 2
    page.wait_for_function("() => new URLSearchParams(location.search).get('mode') === 'iptables'")

    # The comparison: the same flow under the four modes, side by side.
    page.click("#modes-open")
    # the first opening grows the cluster to 5,000 services and renders each mode's rules for it: seconds of work
    page.wait_for_selector("#modes-panel.open .modes-table", timeout=180_000)
    assert page.eval_on_selector_all(".modes-table thead th[data-mode]", "els => els.map(e => e.dataset.mode)") == [
        "iptables", "ipvs", "nftables", "userspace"]

    def row(name: str) -> list[str]:
        return page.eval_on_selector_all(f".modes-table td.{name}", "els => els.map(e => e.innerText.trim())")

    assert row("outcome") == ["Delivered"] * 4
    assert row("decided") == [
        'nat -A KUBE-SVC-VTPBR73ZU62SOII5 -m comment --comment "default/api-lb -> 10.244.1.3:8080" -m statistic '
        "--mode random --probability 0.5000000000 -j KUBE-SEP-CZJKISAGLOYXZJX4",
        "TCP 10.96.0.11:80 rr -> 10.244.1.3:8080 Masq",
        "kube-proxy service-ips: 10.96.0.11 . tcp . 80 : goto service-RI7FT74Q-default/api-lb/tcp/",
        'nat -A KUBE-PORTALS-CONTAINER -m comment --comment "default/api-lb" -p tcp -m tcp --dport 80 '
        "-d 10.96.0.11/32 -j REDIRECT --to-ports 59269",
    ]
    assert row("rules") == ["node-1: 90 rules\nnode-2: 90 rules", "node-1: 43 rules\nnode-2: 43 rules",
                            "node-1: 74 rules\nnode-2: 74 rules", "node-1: 32 rules\nnode-2: 32 rules"]
    assert row("lookup") == ["0 rules compared before the service's own rule",
                             "1 lookup(s) in the IPVS service table", "1 verdict-map lookup(s)",
                             "0 rules compared before the service's own rule"]
    assert row("scale") == [
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)",
        "1 lookup(s) in the IPVS service table at worst, whichever of the 5,001 service ports",
        "1 verdict-map lookup(s) at worst, whichever of the 5,001 service ports",
        "2,526 rules compared on average, 5,002 at worst (100 of 5,001 service ports measured)",
    ]
    page.screenshot(path=str(artifacts / "views-mode-comparison.png"))

    # A mode's button shows the flow in that mode: the view closes, the what-if picker takes it.
    page.click("button[id*='modes-show'][id*='nftables']")
    page.wait_for_selector("#modes-panel.open", state="detached")
    assert kube_proxy_labels(page, "nftables") == ["<b>kube-proxy</b> (nftables)"] * 2
    assert page.console_errors == []


CELL_JS = """pair => {
  const gd = document.querySelector('#matrix-graph .js-plotly-plot');
  const t = gd.data.find(t => t.name === 'cells');
  const i = t.customdata.findIndex(c => c[0] === pair[0] && c[1] === pair[1]);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])];
}"""


def click_cell(page, src: str, dst: str) -> None:
    """Click the matrix cell of the pair (source row, destination column) where it is drawn."""
    x, y = page.evaluate(CELL_JS, [src, dst])
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def cell_states(page) -> dict[str, int]:
    """How many cells each fill trace (allowed, denied, not-enforced) draws: its polygons have 5 points each."""
    return page.evaluate("""() => {
      const gd = document.querySelector('#matrix-graph .js-plotly-plot');
      return Object.fromEntries(gd.data.filter(t => t.fill === 'toself')
                                       .map(t => [t.name, t.x.filter(v => v !== null).length / 5]));
    }""")


def test_the_matrix_opens_and_a_denied_cell_traces_that_pair(page, server_url, artifacts):
    query = urlencode({"sample": "policy-shop", "type": "pod-to-pod-same-node", "src": "pod/frontend/web-1",
                       "dst": "pod/backend/api-1:8080"})
    page.goto(f"{server_url}/?{query}")
    wait_ready(page)
    assert page.inner_text("#verdict") == "Delivered"
    page.click("#matrix-open")
    page.wait_for_selector("#matrix-panel.open .matrix-counts")
    assert page.input_value("#matrix-port") == "8080"  # the port of the flow on screen
    assert page.inner_text(".matrix-counts") == ("Port 8080/TCP · 8 pods: 14 allowed, 50 denied, 0 would be denied "
                                                 "but are not enforced")
    assert page.inner_text(".matrix-enforcement") == "canal enforces NetworkPolicy: a denied connection is dropped."
    assert cell_states(page) == {"allowed": 14, "denied": 50}
    page.screenshot(path=str(artifacts / "views-policy-matrix.png"))

    click_cell(page, "frontend/debug", "backend/api-1")
    page.wait_for_selector("#matrix-panel.open", state="detached")
    page.wait_for_function("() => new URLSearchParams(location.search).get('src') === 'pod/frontend/debug'")
    params = page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")
    assert (params["src"], params["dst"], params["type"]) == ("pod/frontend/debug", "pod/backend/api-1:8080",
                                                              "pod-to-pod-same-node")

    # The trace stops at the policy hop: the debug pod's egress chain on the host side of its veth drops it.
    reason = ("selected by frontend/allow-dns, frontend/default-deny (default deny): no rule allows port 8080/TCP "
              "to backend/api-1")
    page.wait_for_function("want => document.querySelector('#verdict').innerText === want", arg=f"Dropped: {reason}")
    hops = page.eval_on_selector_all(".hop-list.request .hop", "els => els.map(e => e.innerText)")
    assert hops[-1] == "veth43e7ab17 · host/node-1 · policy/drop"
    assert page.eval_on_selector_all(".hop-list.reply", "els => els.length") == 0
    last = f"q{len(hops) - 1}"
    page.click(f'.hop[data-hop="{last}"]')
    page.wait_for_selector(f'.hop-panel.current[data-hop="{last}"] .policy-panel')
    panel = f'.hop-panel.current[data-hop="{last}"]'
    assert page.inner_text(f"{panel} code.rule") == (
        'filter -A cali-fw-veth43e7ab17 -m mark --mark 0x0/0x20000 -m comment --comment "Drop if no policies passed '
        'packet" -j DROP')
    assert page.inner_text(f"{panel} .policy-panel h3") == (
        "The policies selecting frontend/debug for egress (their podSelector highlighted): none of their rules "
        "allows it")
    assert page.eval_on_selector_all(f"{panel} .policy-yaml .match", "els => els.map(e => e.innerText.trim())") == [
        "podSelector: {}",                                          # frontend/allow-dns: every pod of frontend
        "podSelector: {}", "egress: []"]                            # frontend/default-deny: no egress rule at all
    assert page.inner_text(f'.hop-caption.current[data-hop="{last}"]') == (
        "cali-fw-veth43e7ab17 on veth43e7ab17, the host side of frontend/debug's veth, checks the pod's egress: "
        f"{reason}.")
    page.screenshot(path=str(artifacts / "views-denied-flow.png"))
    assert page.console_errors == []


ALLOW_DEBUG = Path(__file__).parents[1] / "data" / "policies" / "allow-debug.yaml"


def test_what_ifs_a_policy_off_flannel_and_an_uploaded_policy_change_the_matrix(page, server_url, artifacts):
    query = urlencode({"sample": "policy-shop", "type": "pod-to-pod-same-node", "src": "pod/frontend/debug",
                       "dst": "pod/backend/api-1:8080"})
    page.goto(f"{server_url}/?{query}")
    wait_ready(page)
    page.click("#matrix-open")
    page.wait_for_selector("#matrix-panel.open .matrix-counts")

    # backend/api switched off: the web pods lose the API, four cells framed.
    choose(page, "setting-policies-off", "backend/api", multi=True)
    page.wait_for_selector(".matrix-changed")
    assert page.inner_text(".matrix-counts") == ("Port 8080/TCP · 8 pods: 10 allowed, 54 denied, 0 would be denied "
                                                 "but are not enforced")
    assert page.inner_text(".matrix-changed").startswith("4 cell(s) changed")
    assert cell_states(page) == {"allowed": 10, "denied": 54}

    # flannel: nothing is enforced; the same cells would be denied and are delivered.
    choose(page, "setting-plugin", "flannel — enforces no NetworkPolicy")
    page.wait_for_function("() => document.querySelector('.matrix-enforcement').innerText.startsWith('flannel')")
    assert page.inner_text(".matrix-counts") == ("Port 8080/TCP · 8 pods: 10 allowed, 0 denied, 54 would be denied "
                                                 "but are not enforced")
    assert page.wait_for_selector(".matrix-changed")  # the changed cells are the same, now "not enforced"
    page.screenshot(path=str(artifacts / "views-policy-matrix-flannel-what-if.png"))
    params = page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")
    assert (params["plugin"], params["off"]) == ("flannel", "backend/api")

    # Back to canal with every policy on, then two uploaded policies let the debug pod call the API.
    page.click("#setting-plugin .dash-dropdown-clear")
    page.click("#setting-policies-off .dash-dropdown-clear")
    page.wait_for_function("() => !document.querySelector('.matrix-changed')")
    page.set_input_files("#matrix-upload input[type=file]", str(ALLOW_DEBUG))
    page.wait_for_selector(".matrix-changed")
    assert page.inner_text("#matrix-upload-status") == (
        "Added 2 policy(ies): backend/allow-debug, frontend/debug-to-api. The diagram traces with them; the matrix "
        "frames the cells that changed.")
    assert page.inner_text(".matrix-changed").startswith("2 cell(s) changed")
    assert cell_states(page) == {"allowed": 16, "denied": 48}
    page.screenshot(path=str(artifacts / "views-policy-matrix-upload.png"))
    page.wait_for_function("() => new URLSearchParams(location.search).get('cluster') !== null")
    assert "sample" not in page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")
    page.click("#matrix-close")
    page.wait_for_function("() => document.querySelector('#verdict').innerText === 'Delivered'")
    assert page.console_errors == []
