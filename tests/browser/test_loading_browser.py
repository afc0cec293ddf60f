"""Loading a new cluster in real headless Chromium (issue 18): choosing a sample or loading pasted YAML greys the
diagram on screen (#diagram-frame.stale, with its note) from the click until the new cluster's diagram is drawn, so
the old cluster is never shown as if it were the new one; a paste that fails ungreys it at once, the cluster kept.
The controller's answer is held back (Playwright routes) to look at the page while the new cluster loads."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from helpers import wait_ready

from webapp.app.catalog import text
from webapp.loaders import list_samples, load_sample
from webapp.paths import SAMPLES_DIR

pytestmark = [pytest.mark.browser]

DRAWN_CLUSTER_JS = "() => document.querySelector('#diagram .js-plotly-plot').layout.meta.cluster"
STALE_JS = "() => document.getElementById('diagram-frame').classList.contains('stale')"


@contextmanager
def held_callbacks(page):
    """Dash's callback requests made inside the block wait until it ends (then go on, in order)."""
    held = []
    page.route("**/_dash-update-component*", lambda route: held.append(route))
    try:
        yield held
    finally:
        for route in held:
            route.continue_()
        page.unroute("**/_dash-update-component*")


def _frame_note(page) -> str:
    return page.get_attribute("#diagram-frame", "data-stale-text")


def _choose_sample(page, name: str) -> None:
    title = next(s.title for s in list_samples() if s.name == name)
    page.click("#sample-picker")
    page.click(f".dash-dropdown-option:has-text('{title}')")


def test_choosing_a_sample_greys_the_old_diagram_until_the_new_one_is_drawn(page, server_url, artifacts):
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    old_key = page.evaluate(DRAWN_CLUSTER_JS)
    assert not page.evaluate(STALE_JS)
    with held_callbacks(page):
        _choose_sample(page, "policy-shop")
        page.wait_for_function(STALE_JS)
        assert page.evaluate(DRAWN_CLUSTER_JS) == old_key  # what is greyed is the old cluster's diagram
        assert _frame_note(page) == text("upload.stale")
        page.screenshot(path=str(artifacts / "loading-sample-greyed.png"))
    page.wait_for_function(f"() => ({DRAWN_CLUSTER_JS})() !== {old_key!r} && !({STALE_JS})()")
    page.wait_for_function("name => document.getElementById('cluster-name').textContent === name",
                           arg=load_sample("policy-shop").name)
    assert page.console_errors == []


def test_loading_pasted_yaml_greys_the_old_diagram_and_a_bad_paste_ungreys_it_at_once(page, server_url, artifacts):
    page.goto(f"{server_url}/?sample=seed-article")
    wait_ready(page)
    old_key = page.evaluate(DRAWN_CLUSTER_JS)
    page.click("details.paste summary")
    page.fill("#paste-box", (SAMPLES_DIR / "flannel-host-gw.yaml").read_text(encoding="utf-8"))
    with held_callbacks(page):
        page.click("#paste-load")
        page.wait_for_function(STALE_JS)
        assert page.evaluate(DRAWN_CLUSTER_JS) == old_key
        assert _frame_note(page) == text("upload.stale")
    page.wait_for_function(f"() => ({DRAWN_CLUSTER_JS})() !== {old_key!r} && !({STALE_JS})()")
    pasted_key = page.evaluate(DRAWN_CLUSTER_JS)
    page.fill("#paste-box", "nodes: [unclosed")
    with held_callbacks(page):
        page.click("#paste-load")
        page.wait_for_function(STALE_JS)
    page.wait_for_selector("#upload-status .problem.error")
    page.wait_for_function(f"() => !({STALE_JS})()")
    assert page.evaluate(DRAWN_CLUSTER_JS) == pasted_key  # the cluster on screen stays, no longer greyed
    page.screenshot(path=str(artifacts / "loading-bad-paste.png"))
