"""The lesson player in real headless Chromium (issue 10): every built-in lesson walked with PageDown alone, each
step's flow, caption, landing hop and stop hops checked against the engine; keys, the URL and presentation mode."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import current_hop

from webapp.lessons import builtin_lesson, list_lessons, resolve_step
from webapp.lessons.player import lesson_bundle

pytestmark = pytest.mark.browser

WIDE = {"width": 1920, "height": 1080}

STATE_JS = """() => {
  const p = window.netvizPlayer, l = window.netvizLesson;
  if (!p || !l || !l.nav || !p.pb || !p.frames.length) return null;
  return {step: l.nav.step, flow: p.pb.trace.flow, key: p.pb.notes.key, index: p.index, onScript: l.onScript,
          hops: p.pb.trace.hops.map(h => [h.netns, h.device, h.kind, h.action])};
}"""


def lesson_state(page) -> dict:
    return page.evaluate(STATE_JS)


def wait_step(page, number: int, key: str, hop: int) -> None:
    """Until the player shows step `number` with the trace `key` was made for, on hop `hop`."""
    page.wait_for_function("""([n, key, hop]) => {
      const p = window.netvizPlayer, l = window.netvizLesson;
      return l && l.nav && l.nav.step === n && p.pb && p.pb.notes.key === key && p.index === hop
        && document.querySelector('.hop-panel.current[data-hop="q' + hop + '"]');
    }""", arg=[number, key, hop])


def params(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


@pytest.mark.parametrize("name", [info.name for info in list_lessons()])
def test_every_lesson_plays_end_to_end_with_page_down_alone(browser, server_url, name):
    """From step 1 to the last with PageDown alone: every step shows its own flow (the engine's trace, hop for hop),
    its caption and title, lands on its first stop, and → reaches each stop hop the engine resolves; no console
    errors."""
    lesson = builtin_lesson(name)
    bundle = lesson_bundle(lesson, "en")
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)
    page.goto(f"{server_url}/?lesson={name}&present=1")
    count = len(lesson.steps)
    for number, step in enumerate(lesson.steps, 1):
        resolved = resolve_step(step)
        own = bundle["steps"][number - 1]
        if number > 1:
            page.keyboard.press("PageDown")
        wait_step(page, number, own["key"], own["land"])
        state = lesson_state(page)
        assert state["flow"]["src"] == step.flow.src and state["flow"]["dst"] == step.flow.dst
        assert state["flow"]["type"] == str(step.flow.type) and state["onScript"] is True
        assert state["hops"] == [[h.netns, h.device, str(h.kind), str(h.action)] for h in resolved.trace.hops]
        assert page.inner_text(".lesson-counter") == f"{number} / {count}"
        assert page.inner_text(".lesson-title") == step.title.en
        assert page.inner_text(".lesson-caption") == step.caption.en
        assert own["stops"] == list(resolved.stops)
        assert params(page) == {"lesson": name, "step": str(number), "present": "1",
                                **({"hop": str(own["land"])} if own["land"] else {})}
        for stop in resolved.stops:  # → and ← reach each stop; its strip names the engine's hop
            for _ in range(3 * len(resolved.trace.hops)):
                index = page.evaluate("() => window.netvizPlayer.index")
                if index == stop:
                    break
                page.keyboard.press("ArrowRight" if index < stop else "ArrowLeft")
            assert current_hop(page) == f"q{stop}"
            hop = resolved.trace.hops[stop]
            assert page.inner_text("#present-panel .cell-where") == f"Hop {hop.device} · {hop.netns}"
    page.keyboard.press("PageDown")  # past the last step: stays there
    page.wait_for_timeout(300)
    assert page.inner_text(".lesson-counter") == f"{count} / {count}"
    assert errors == []
    context.close()


def test_keys_and_the_url_return_to_the_same_slide(page, server_url):
    """?lesson=…&step=N: a reload returns to the same step, hop and presentation mode; Home/End/PageUp move; Esc
    leaves presentation mode and the URL says so."""
    page.set_viewport_size(WIDE)
    bundle = lesson_bundle(builtin_lesson("seed-article"), "en")
    steps = bundle["steps"]
    page.goto(f"{server_url}/?lesson=seed-article&step=6&present=1")
    wait_step(page, 6, steps[5]["key"], steps[5]["land"])
    assert page.evaluate("document.body.classList.contains('presenting')")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => new URLSearchParams(location.search).get('hop') === '3'")
    page.reload()
    wait_step(page, 6, steps[5]["key"], 3)
    page.wait_for_function("() => new URLSearchParams(location.search).get('hop') === '3'")
    assert params(page) == {"lesson": "seed-article", "step": "6", "hop": "3", "present": "1"}
    assert page.evaluate("document.body.classList.contains('presenting')")
    page.keyboard.press("End")
    wait_step(page, len(steps), steps[-1]["key"], steps[-1]["land"])
    page.keyboard.press("PageUp")
    wait_step(page, len(steps) - 1, steps[-2]["key"], steps[-2]["land"])
    page.keyboard.press("Home")
    wait_step(page, 1, steps[0]["key"], steps[0]["land"])
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.classList.contains('presenting')")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('present')")
    assert params(page) == {"lesson": "seed-article", "step": "1"}
    assert page.is_visible(".side") and page.is_visible(".lesson-counter")
    page.keyboard.press("p")
    page.wait_for_function("() => new URLSearchParams(location.search).get('present') === '1'")
    assert page.console_errors == []


def test_the_lesson_picker_starts_a_lesson(page, server_url):
    page.goto(f"{server_url}/?sample=seed-article")
    page.wait_for_selector('.hop-panel.current[data-hop="q0"]', state="attached")
    assert not page.is_visible(".lesson-counter")
    page.click("#lesson-picker")
    page.click(".dash-dropdown-option:has(input[value='seed-article'])")
    bundle = lesson_bundle(builtin_lesson("seed-article"), "en")
    wait_step(page, 1, bundle["steps"][0]["key"], bundle["steps"][0]["land"])
    assert page.inner_text(".lesson-counter") == f"1 / {len(bundle['steps'])}"
    assert params(page)["lesson"] == "seed-article"
    assert page.console_errors == []
