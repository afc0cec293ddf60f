"""The standalone lesson player (`k8s-netviz export lesson`) in real headless Chromium, opened from file:// with
every request but file: aborted: in both languages it walks every step with PageDown, plays a flow and answers a
quiz question, with no console error and no request leaving the file."""

from __future__ import annotations

import pytest

from webapp.app.standalone import standalone_html
from webapp.lessons import builtin_lesson
from webapp.lessons.player import lesson_bundle as bundle_of
from webapp.narration import narration_language

pytestmark = pytest.mark.browser

LESSON = "seed-article"
QUIZ_STEP = 6
"""The seed lesson's step with its own question ("flannel.1 is about to encapsulate …"), asked at its first stop."""


def lesson_bundle(lesson, language: str) -> dict:
    """The lesson's steps as the player gets them, traced in `language` (as the page and the export trace them)."""
    with narration_language(language):
        return bundle_of(lesson, language)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("standalone") / "lesson.html"
    path.write_text(standalone_html(builtin_lesson(LESSON), "zh"), encoding="utf-8")
    return path


@pytest.fixture
def offline(browser):
    """A page whose every request but file: is aborted; it records what it asked for and its console errors."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    asked: list[str] = []

    def route(request_route):
        asked.append(request_route.request.url)
        if request_route.request.url.startswith("file:"):
            request_route.continue_()
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.console_errors = []
    page.asked = asked
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.set_default_timeout(20_000)
    yield page
    context.close()


def ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']")


def on_step(page, number: int, step: dict) -> None:
    """Until step `number` is on screen: its counter, its trace in the player, the player on its landing hop."""
    page.wait_for_function(
        """([number, key, land]) => {
          const p = window.netvizPlayer, c = document.querySelector('.lesson-counter');
          return c && c.textContent.startsWith(number + ' / ') && p.pb && p.pb.notes.key === key
            && p.index === land && document.querySelector('.hop-panel.current[data-hop="q' + land + '"]');
        }""", arg=[number, step["key"], step["land"]])


def walk(page, language: str) -> None:
    bundle = lesson_bundle(builtin_lesson(LESSON), language)
    count = len(bundle["steps"])
    for number, step in enumerate(bundle["steps"], 1):
        if number > 1:
            page.keyboard.press("PageDown")
        on_step(page, number, step)
        assert page.inner_text(".lesson-counter") == f"{number} / {count}"
        assert page.inner_text(".lesson-title") == step["title"]
        assert page.evaluate("location.hash") == f"#lang={language}&step={number}"
    page.keyboard.press("PageDown")  # past the last step: stays
    on_step(page, count, bundle["steps"][-1])


def test_the_exported_lesson_walks_plays_and_quizzes_offline_in_both_languages(offline, exported):
    page = offline
    page.goto(exported.as_uri())
    ready(page)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    walk(page, "zh")

    page.keyboard.press("Home")
    bundle = lesson_bundle(builtin_lesson(LESSON), "zh")
    on_step(page, 1, bundle["steps"][0])
    page.keyboard.press("Space")  # plays to the next stop
    page.wait_for_function("() => window.netvizPlayer.index === 2 && !window.netvizPlayer.playing")

    for _ in range(QUIZ_STEP - 1):
        page.keyboard.press("PageDown")
    step = bundle["steps"][QUIZ_STEP - 1]
    on_step(page, QUIZ_STEP, step)
    page.keyboard.press("ArrowRight")  # on a question not answered yet: it is asked
    page.wait_for_selector(".quiz-question")
    own = next(q for q in step["quiz"] if q["own"])
    assert page.inner_text(".quiz-question") == own["question"] == "flannel.1 正要封装这个数据包。外层 UDP 头部的目的地址是什么？"
    page.keyboard.press(str(own["right"] + 1))
    page.wait_for_selector(".quiz-verdict.right")

    page.click("a[data-lang='en']")  # the language switch reloads the file in English, on the same step
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    ready(page)
    english = lesson_bundle(builtin_lesson(LESSON), "en")
    on_step(page, QUIZ_STEP, english["steps"][QUIZ_STEP - 1])
    assert page.inner_text(".lesson-name") == "Kubernetes networking, after the seed article"
    page.keyboard.press("Home")
    on_step(page, 1, english["steps"][0])
    walk(page, "en")
    page.keyboard.press("p")
    page.wait_for_function("() => document.body.classList.contains('presenting')")
    count = len(english["steps"])
    assert page.evaluate("location.hash") == f"#lang=en&step={count}"
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.classList.contains('presenting')")

    with page.expect_download() as download:  # plotly.js's own image export, in the browser
        page.click("#export-png")
    assert download.value.suggested_filename == f"k8s-netviz-{LESSON}-step{count}-hop{english['steps'][-1]['land'] + 1}.png"
    from PIL import Image

    assert Image.open(download.value.path()).size == (1600, 900)
    with page.expect_download() as download:
        page.click("#export-json")
    assert download.value.suggested_filename.startswith("k8s-netviz-") and \
        download.value.suggested_filename.endswith("-trace.json")

    assert page.console_errors == []
    assert [url for url in page.asked if not url.startswith("file:")] == []
