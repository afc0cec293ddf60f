"""The lesson player in real headless Chromium (issue 10): every built-in lesson walked with PageDown alone, each
step's flow, caption, landing hop and stop hops checked against the engine; keys, the URL and presentation mode."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import PACKET_STYLE_JS, current_hop

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


def test_quiz_answered_right_and_wrong_keeps_the_score(page, server_url):
    """Keys 1–4 answer; the reveal shows the engine's explanation and plays on to the answer; the score counts."""
    page.set_viewport_size(WIDE)
    steps = lesson_bundle(builtin_lesson("seed-article"), "en")["steps"]
    bridge, vxlan = steps[4], steps[5]  # "The bridge switches the frame", "flannel VXLAN"
    page.goto(f"{server_url}/?lesson=seed-article&step=5&present=1")
    wait_step(page, 5, bridge["key"], bridge["land"])
    point = bridge["quiz"][0]
    assert point["pause_after"] == bridge["land"] == 3 and not page.is_visible("#quiz .quiz-question")
    page.keyboard.press(" ")  # sitting on a decision point: space asks first
    page.wait_for_selector("#quiz .quiz-question")
    assert page.inner_text("#quiz .quiz-question") == point["question"]
    assert page.eval_on_selector_all("#quiz .answer", "els => els.map(e => e.textContent)") == [
        f"{i + 1} {a}" for i, a in enumerate(point["answers"])]
    wrong = next(i for i in range(len(point["answers"])) if i != point["right"])
    page.keyboard.press(str(wrong + 1))
    page.wait_for_selector("#quiz .quiz-verdict.wrong")
    assert page.inner_text("#quiz .quiz-verdict") == f"Not quite: the engine says {point['answers'][point['right']]}."
    assert page.inner_text("#quiz .quiz-explain") == " ".join(point["explain"])
    assert page.inner_text("#quiz .quiz-score") == "Score: 0 / 1"
    page.wait_for_function("n => window.netvizPlayer.index === n && !window.netvizPlayer.playing",
                           arg=point["answer_hop"])
    page.keyboard.press("PageDown")
    wait_step(page, 6, vxlan["key"], vxlan["land"])
    point = vxlan["quiz"][0]
    assert point["question"] == ("flannel.1 is about to encapsulate the packet. Which destination will the outer UDP "
                                 "header carry?") and point["answers"][point["right"]] == "192.168.0.12"
    page.keyboard.press(" ")
    page.wait_for_selector("#quiz .quiz-question")
    page.keyboard.press(str(point["right"] + 1))
    page.wait_for_selector("#quiz .quiz-verdict.right")
    assert page.inner_text("#quiz .quiz-verdict") == "Right!"
    assert page.inner_text("#quiz .quiz-score") == "Score: 1 / 2"
    assert page.inner_text(".lesson-score") == "Score: 1 / 2"
    page.wait_for_function("n => window.netvizPlayer.index === n", arg=point["answer_hop"])
    outer = resolve_step(builtin_lesson("seed-article").steps[5]).trace.hops[point["answer_hop"]].packet.outer
    assert outer.src.ip.exploded == "192.168.0.11" and str(outer.dst) == "192.168.0.12:8472"
    assert page.inner_text("#present-panel .cell-outer") == f"Outer (tunnel) {outer.src} → {outer.dst} udp VNI 1"
    assert page.console_errors == []


def test_quiz_answered_with_the_mouse_and_automatic_questions_switched_off_with_q(page, server_url):
    """A click on an answer answers it; q switches the automatic questions off (a step's own are still asked) and on."""
    page.set_viewport_size(WIDE)
    steps = lesson_bundle(builtin_lesson("seed-article"), "en")["steps"]
    bridge, vxlan = steps[4], steps[5]
    page.goto(f"{server_url}/?lesson=seed-article&step=5&present=1")
    wait_step(page, 5, bridge["key"], bridge["land"])
    point = bridge["quiz"][0]
    assert not point["own"] and point["pause_after"] == bridge["land"] == 3
    assert page.inner_text(".lesson-legend") == (
        "PageDown/PageUp step · Home/End first/last · → / ← hop · space play to the next stop · Esc leave "
        "presentation · q automatic questions on/off · What if: m kube-proxy mode · o overlay · d mark the chosen "
        "backend down")
    page.keyboard.press(" ")
    page.wait_for_selector("#quiz .quiz-question")
    wrong = next(i for i in range(len(point["answers"])) if i != point["right"])
    page.click(f'#quiz button[data-answer="{wrong + 1}"]')
    page.wait_for_selector("#quiz .quiz-verdict.wrong")
    assert page.inner_text("#quiz .quiz-verdict") == f"Not quite: the engine says {point['answers'][point['right']]}."
    assert page.inner_text("#quiz .quiz-score") == "Score: 0 / 1"
    assert page.inner_text(".lesson-score") == "Score: 0 / 1"
    page.wait_for_function("n => window.netvizPlayer.index === n && !window.netvizPlayer.playing",
                           arg=point["answer_hop"])

    page.keyboard.press("PageDown")
    wait_step(page, 6, vxlan["key"], vxlan["land"])
    page.keyboard.press("q")
    page.wait_for_selector(".lesson-quiz-off")
    assert page.inner_text(".lesson-quiz-off") == (
        "Automatic questions are off: only the step's own questions are asked (q turns them back on).")
    point = vxlan["quiz"][0]
    assert point["own"]
    page.keyboard.press(" ")  # the step's own question is still asked
    page.wait_for_selector("#quiz .quiz-question")
    page.click(f'#quiz button[data-answer="{point["right"] + 1}"]')
    page.wait_for_selector("#quiz .quiz-verdict.right")
    assert page.inner_text("#quiz .quiz-verdict") == "Right!"
    assert page.inner_text("#quiz .quiz-score") == "Score: 1 / 2"
    assert page.inner_text(".lesson-score") == "Score: 1 / 2"

    page.keyboard.press("PageUp")  # step 5 again: its automatic question is not asked now
    wait_step(page, 5, bridge["key"], bridge["land"])
    page.keyboard.press(" ")
    page.wait_for_function("n => window.netvizPlayer.index === n && !window.netvizPlayer.playing",
                           arg=bridge["stops"][1])
    assert not page.is_visible("#quiz .quiz-question")
    assert page.inner_text(".lesson-score") == "Score: 1 / 2"
    page.keyboard.press("q")
    page.wait_for_function("() => !document.querySelector('.lesson-quiz-off')")
    page.keyboard.press("ArrowLeft")  # on again: back on its decision point, it is asked
    page.wait_for_selector("#quiz .quiz-question")
    assert page.inner_text("#quiz .quiz-question") == bridge["quiz"][0]["question"]
    assert page.console_errors == []


LAYOUT_JS = """() => {
  const visible = el => { for (let e = el; e && e !== document.body; e = e.parentElement) {
      if (getComputedStyle(e).display === 'none') return false; } return true; };
  const labels = Array.from(document.querySelectorAll('#diagram .textpoint text'))
    .filter(t => t.textContent.trim() && visible(t) && t.getBoundingClientRect().width > 0)
    .map(t => [parseFloat(getComputedStyle(t).fontSize), t.textContent]);
  labels.sort((a, b) => a[0] - b[0]);
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const packet = gd.querySelector('.scatterlayer').children[gd.data.map(t => t.name).lastIndexOf('packet')];
  const marker = packet.querySelector('path.point').getBoundingClientRect();
  const captions = ['.lesson-caption', '.hop-caption.current', '#verdict'].map(sel => {
    const el = document.querySelector(sel);
    return el && visible(el) ? {sel, text: el.innerText, size: parseFloat(getComputedStyle(el).fontSize),
                                scroll: el.scrollWidth, client: el.clientWidth, height: el.scrollHeight,
                                shown: el.clientHeight} : null; }).filter(Boolean);
  const trail = gd.data[gd.data.map(t => t.name).indexOf('trail')];
  return {smallest: labels[0], marker: [marker.width, marker.height], captions,
          page: document.body.innerText, trail: trail.x.filter(x => x !== null).length,
          strip: visible(document.querySelector('#present-panel .strip'))};
}"""


FITS_FRAME_JS = """() => {
  const frame = document.querySelector('.diagram-frame'), gd = document.querySelector('#diagram .js-plotly-plot');
  return gd && gd._fullLayout && Math.abs(gd._fullLayout.height - frame.clientHeight) <= 2;
}"""


def test_presentation_layout_at_1920_every_seed_step(browser, server_url, artifacts):
    """At 1920×1080 in presentation mode, on every step of the seed lesson (a screenshot of each, for a person to
    look at): the smallest diagram label ≥ 20 px, the marker ≥ 28 px, captions ≥ 24 px, wrapped (scrollWidth ≤
    clientWidth, nothing hidden) and said once; the header strip shows; the trail stays after playback. On a DNAT
    hop the strip has NAT before → after, on a tunnel hop the outer headers."""
    lesson = builtin_lesson("seed-article")
    steps = lesson_bundle(lesson, "en")["steps"]
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)
    page.goto(f"{server_url}/?lesson=seed-article&present=1")
    shots = artifacts / "lesson-seed-article"
    shots.mkdir(exist_ok=True)
    for number, step in enumerate(steps, 1):
        if number > 1:
            page.keyboard.press("PageDown")
        wait_step(page, number, step["key"], step["land"])
        # The plot follows its frame (the caption rows change height from step to step): never cut at the bottom.
        page.wait_for_function(FITS_FRAME_JS)
        page.wait_for_timeout(300)  # the label fitting after the resize
        layout = page.evaluate(LAYOUT_JS)
        page.screenshot(path=str(shots / f"step-{number:02d}.png"))
        assert layout["smallest"][0] >= 20, (number, layout["smallest"])
        assert min(layout["marker"]) >= 28, (number, layout["marker"])
        assert layout["strip"], number
        for caption in layout["captions"]:
            if caption["sel"] != "#verdict":
                assert caption["size"] >= 24, (number, caption)
            assert caption["scroll"] <= caption["client"] and caption["height"] <= caption["shown"], (number, caption)
            if caption["text"]:
                assert layout["page"].count(caption["text"]) == 1, (number, caption["text"])
    # A DNAT hop (step 2's second stop) and a tunnel hop (step 6's encapsulation): what the strip says.
    page.keyboard.press("Home")
    wait_step(page, 1, steps[0]["key"], steps[0]["land"])
    page.keyboard.press("PageDown")
    wait_step(page, 2, steps[1]["key"], steps[1]["land"])
    dnat = steps[1]["stops"][1]
    hop = resolve_step(lesson.steps[1]).trace.hops[dnat]
    while page.evaluate("() => window.netvizPlayer.index") < dnat:
        page.keyboard.press("ArrowRight")
    page.wait_for_function(FITS_FRAME_JS)
    # No DNAT tag over the kube-proxy box at projector size (the strip says it); the marker is the NAT diamond.
    style = page.evaluate(PACKET_STYLE_JS)
    assert (style["text"], style["symbol"], style["color"]) == (" ", "diamond", "#7c3aed")
    assert page.inner_text("#present-panel .cell-nat") == f"NAT dst 10.96.0.13:80 → {hop.packet.dst}"
    assert page.inner_text("#present-panel .cell-nat .after") == str(hop.packet.dst)
    assert page.evaluate("getComputedStyle(document.querySelector('#present-panel .cell-nat .after'))"
                         ".backgroundColor") == "rgb(253, 230, 138)"
    chosen = next(a for a in hop.alternatives if a.chosen) if hop.alternatives else None
    if chosen is not None:
        assert page.inner_text("#present-panel .cell-endpoint").startswith(f"Endpoint {chosen.dst} (")
    page.screenshot(path=str(shots / "dnat-hop.png"))
    page.keyboard.press("End")
    wait_step(page, len(steps), steps[-1]["key"], steps[-1]["land"])
    # Played to the end, the trail stays drawn.
    page.keyboard.press("Home")
    wait_step(page, 1, steps[0]["key"], steps[0]["land"])
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.netvizPlayer.playing && window.netvizPlayer.index > 0")
    for _ in range(8):
        if page.evaluate("() => window.netvizPlayer.index === window.netvizPlayer.frames.length - 1"):
            break
        page.keyboard.press(" ")
        page.wait_for_function("() => !window.netvizPlayer.playing")
    assert page.evaluate("() => window.netvizPlayer.index === window.netvizPlayer.frames.length - 1")
    assert page.evaluate(LAYOUT_JS)["trail"] >= 8
    assert errors == []
    context.close()


VISIBLE_LABELS_JS = """() => Array.from(document.querySelectorAll('#diagram .textpoint text')).filter(t => {
  for (let e = t; e && e !== document.body; e = e.parentElement) { if (getComputedStyle(e).display === 'none') return false; }
  return t.getBoundingClientRect().width > 0; }).map(t => [t.textContent, parseFloat(getComputedStyle(t).fontSize)])"""


def test_what_if_keys_and_the_pause_container_in_presentation_mode(page, server_url):
    """m cycles kube-proxy's mode, o the overlay, d marks the chosen backend down: each re-traces, the URL keeps what
    changed and the bar says the step's stops are set aside; container to container shows the pause container, the
    containers and lo at projector size."""
    page.set_viewport_size(WIDE)
    steps = lesson_bundle(builtin_lesson("seed-article"), "en")["steps"]
    page.goto(f"{server_url}/?lesson=seed-article&step=3&present=1")
    wait_step(page, 3, steps[2]["key"], steps[2]["land"])
    page.wait_for_function(FITS_FRAME_JS)
    shown = dict(page.evaluate(VISIBLE_LABELS_JS))
    for label in ("▢ pause", "▣ nginx", "▣ log-agent", "lo"):
        assert shown.get(label, 0) >= 20, (label, shown.get(label))
    assert page.is_visible(".lesson-legend")
    assert page.inner_text(".lesson-legend").endswith(
        "What if: m kube-proxy mode · o overlay · d mark the chosen backend down")
    page.goto(f"{server_url}/?lesson=seed-article&step=15&present=1")
    wait_step(page, 15, steps[14]["key"], steps[14]["land"])
    assert "▢ pause" not in dict(page.evaluate(VISIBLE_LABELS_JS))
    page.keyboard.press("m")  # iptables → ipvs
    page.wait_for_function("() => new URLSearchParams(location.search).get('mode') === 'ipvs'")
    page.wait_for_function("() => window.netvizPlayer.pb.trace.hops.some(h => h.kind === 'ipvs')")
    page.wait_for_selector(".lesson-off-script")
    assert page.inner_text(".lesson-off-script") == (
        "What-if view: this is not the step's own trace, so its stops and questions are set aside.")
    page.keyboard.press("d")  # the backend IPVS chose, marked down
    page.wait_for_function("() => new URLSearchParams(location.search).has('down')")
    down = params(page)["down"]
    assert down in ("default/web-1", "default/web-2")
    page.keyboard.press("o")  # the overlay: ovs-vxlan (the article's) → flannel-vxlan
    page.wait_for_function("() => new URLSearchParams(location.search).get('overlay') === 'flannel-vxlan'")
    assert params(page) == {"lesson": "seed-article", "step": "15", "present": "1", "mode": "ipvs", "down": down,
                            "overlay": "flannel-vxlan", **({"hop": params(page)["hop"]} if "hop" in params(page) else {})}
    page.reload()  # the changed settings come back with the step
    page.wait_for_function("() => window.netvizPlayer.pb && window.netvizPlayer.pb.trace.hops.some(h => h.kind === 'ipvs')")
    assert page.inner_text(".lesson-counter") == "15 / 27"
    assert page.console_errors == []
