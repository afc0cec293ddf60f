"""Security headers in real headless Chromium: every response the page loads (the page, Dash's scripts and
callbacks, the app's assets) carries the Content-Security-Policy, nosniff, frame and referrer headers and no
version banner, and the page works under that policy: the diagram is drawn, a flow plays, a hop is stepped,
and the browser reports no CSP violation and no console error."""

from __future__ import annotations

import pytest
from helpers import current_hop, pod_targets, wait_ready

from webapp.app.factory import SERVER_BANNER

pytestmark = pytest.mark.browser

CSP_VIOLATIONS = """() => { window.__csp = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


def test_every_response_has_the_headers_and_the_page_works_under_the_csp(page, server_url):
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    page.evaluate(CSP_VIOLATIONS)  # from here on; violations while loading show as console errors
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.hop-panel.current').dataset.hop !== 'q0'")

    assert current_hop(page) == "q1"
    assert "pod:default/web-1" in pod_targets(page)
    assert page.evaluate("() => window.__csp") == []
    assert page.console_errors == []  # Chromium logs each CSP violation as a console error too
    ours = [r for r in responses if r.url.startswith(server_url)]
    kinds = {r.url.split("?")[0].rsplit("/", 1)[-1].split(".")[-1] for r in ours}
    assert {"js", "css", "_dash-update-component", "_dash-layout"} <= kinds
    for response in ours:
        headers = response.all_headers()
        csp = headers["content-security-policy"]
        assert csp.startswith("default-src 'self'; script-src 'self' 'sha256-"), response.url
        assert "'unsafe-eval'" not in csp and csp.count("'unsafe-inline'") == 1
        assert "style-src 'self' 'unsafe-inline';" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["server"] == SERVER_BANNER, response.url


def test_an_inline_script_the_app_did_not_ship_is_blocked(page, server_url):
    """The CSP is enforced, not only sent: a script injected into the page does not run."""
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    page.evaluate(CSP_VIOLATIONS)
    page.evaluate("""() => { const s = document.createElement('script');
      s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("() => window.__ran") is None
    assert page.evaluate("() => window.__csp") == ["script-src-elem inline"]
