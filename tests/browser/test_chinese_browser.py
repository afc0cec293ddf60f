"""The page in Chinese in real headless Chromium: every communication type of every sample played hop by hop with
?lang=zh, and no English sentence in the caption, the inspector, the hop list or the badges; the switch keeps the
flow, the step and presentation mode; the browser's Accept-Language picks the default; screenshots at 1920×1080."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from helpers import wait_ready

from webapp.engine.flows import candidate_flows
from webapp.loaders import list_samples, load_sample

pytestmark = pytest.mark.browser

ENGLISH_WORDS = frozenset("""
a about above after all already also an and answer answers any are arrives as at back be because been behind between
both bridge but by can cannot carries chain client cluster connection connections container containers delivered
destination device directly does drop dropped drops each end every expects for frame from gateway goes has have
headers here host if in inside interface into is it its itself kept leaves lives local loops neighbour network new
next no node nodes nobody none not nothing of on one only or other out outside packet packets picks pod pods policy
port ports receives rejected rejects reply request rewrites route routes routing rule rules same sees sends service
services sets so socket source strips table that the their them then there these this through to towards traffic
trace under undoes up via what when where which while who with without wraps
""".split())
"""A small English word list: the words the English catalogues make their sentences of."""

IDENTIFIER = re.compile(r"\S*[0-9/_.:=<>@\-]\S*")
"""A whitespace-separated chunk with a digit or a separator: an address, a device, a chain, a path, a flag."""
WORD_RUN = re.compile(r"[A-Za-z']+(?:[ \t]+[A-Za-z']+)*")


def english_sentences(text: str) -> list[str]:
    """Every run of three or more consecutive English dictionary words in `text` (case-insensitive). Identifiers
    (chunks with a digit or one of / _ . : = < > @ -) and anything not a Latin letter, a space or an apostrophe
    break a run, so `10.244.1.3:8080`, `KUBE-SVC-…`, `pod/default/api-1`, `Pod 网络` never count."""
    found = []
    for run in WORD_RUN.findall(IDENTIFIER.sub("|", text)):
        words = run.split()
        streak: list[str] = []
        for word in [*words, ""]:
            if word.lower().strip("'") in ENGLISH_WORDS:
                streak.append(word)
                continue
            if len(streak) >= 3:
                found.append(" ".join(streak))
            streak = []
    return found


def test_the_definition_of_an_english_sentence():
    assert english_sentences("Arrives on cni0.") == []  # two words: a fragment, not a sentence
    assert english_sentences("The frame enters the bridge.") == []  # "enters" is not in the list
    assert english_sentences("No route to 10.0.0.9.") == ["No route to"]
    assert english_sentences("nothing listens on 80/tcp in pod default/web") == []
    assert english_sentences("kube-proxy accepts on port 8080 and closes") == []
    assert english_sentences("the packet is dropped by the chain") == ["the packet is dropped by the chain"]
    assert english_sentences("到达 eth0。路由表：去往 10.244.2.3 的数据包从 eth0 发出") == []
    assert english_sentences("Pod 网络 · externalTrafficPolicy Local · sessionAffinity ClientIP") == []
    assert english_sentences("这是 the reply to it") == ["the reply to it"]


# The text a person reads at the current hop: caption, the inspector's current panel outside rule text (<code>:
# iptables, routes, FDB entries are identifiers), the hop list's headings and current row, the NAT badge, the verdict.
VISIBLE_TEXT_JS = """() => {
  const text = el => {
    if (!el) return '';
    const copy = el.cloneNode(true);
    copy.querySelectorAll('code').forEach(c => c.remove());
    return copy.textContent;
  };
  return {
    caption: text(document.querySelector('.hop-caption.current')),
    inspector: text(document.querySelector('.hop-panel.current')),
    hops: Array.from(document.querySelectorAll('#hop-list h3, #hop-list .hop.current')).map(text).join(' | '),
    badge: text(document.getElementById('nat-badge')) + ' ' + (document.getElementById('nat-badge').title || ''),
    verdict: text(document.getElementById('verdict')),
    step: document.querySelector('.hop-panel.current').getAttribute('data-hop'),
  };
}"""


def _flows() -> list[tuple[str, str, str, str]]:
    """(sample, flow type, src, dst): the first pair of every communication type of every built-in sample."""
    return [(sample.name, kind, *pairs[0]) for sample in list_samples()
            for kind, pairs in candidate_flows(load_sample(sample.name)).items() if pairs]


FLOWS = _flows()


@pytest.mark.parametrize(("sample", "flow_type", "src", "dst"), FLOWS,
                         ids=[f"{s}-{t}" for s, t, _, _ in FLOWS])
def test_every_hop_of_every_communication_type_reads_in_chinese(page, server_url, sample, flow_type, src, dst):
    page.goto(f"{server_url}/?" + urlencode({"sample": sample, "type": flow_type, "src": src, "dst": dst,
                                             "lang": "zh"}))
    wait_ready(page)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    hops = page.eval_on_selector_all(".hop-panel", "els => els.map(e => e.getAttribute('data-hop'))")
    assert hops[0] == "q0" and len(hops) >= 2
    english = {}
    for index, ref in enumerate(hops):
        if index:
            page.keyboard.press("ArrowRight")
            page.wait_for_selector(f'.hop-panel.current[data-hop="{ref}"]', state="attached")
        seen = page.evaluate(VISIBLE_TEXT_JS)
        assert seen["step"] == ref and seen["caption"].strip()
        for where in ("caption", "inspector", "hops", "badge", "verdict"):
            if english_sentences(seen[where]):
                english[f"{ref} {where}"] = english_sentences(seen[where])
    assert english == {}
    assert page.console_errors == []


def switch_language(page, language: str, hop: str) -> None:
    """Click the switch's `language` link and wait until the reloaded page sits on `hop` again."""
    with page.expect_navigation():
        page.click(f'a[data-lang="{language}"]')
    wait_ready(page, hop)


def test_switching_the_language_keeps_the_flow_the_step_and_presentation_mode(page, server_url):
    query = {"sample": "seed-article", "type": "pod-to-service", "src": "pod/default/api-1",
             "dst": "svc/default/api-lb:80", "mode": "ipvs", "step": "5"}
    page.goto(f"{server_url}/?{urlencode(query)}")
    wait_ready(page, "q5")
    page.keyboard.press("p")
    page.wait_for_selector("body.presenting")
    assert page.inner_text("#present-toggle") == "Presentation mode (p)"
    switch_language(page, "zh", "q5")
    assert page.evaluate("Object.fromEntries(new URLSearchParams(location.search))") == {**query, "lang": "zh", "present": "1"}
    assert page.evaluate("document.body.classList.contains('presenting')")
    assert page.inner_text("#present-toggle") == "演示模式 (p)"
    assert page.inner_text(".hop-caption.current") == (
        "10.96.0.11 绑定在 kube-ipvs0 上，所以数据包属于本机；IPVS 虚拟服务器（cluster IP）用 rr 调度器把连接交给"
        "真实服务器 10.244.1.3:8080（Masq 转发 = DNAT）。")
    # The URL keeps the language as the player moves on; English again from the switch.
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '6'")
    assert page.evaluate("new URLSearchParams(location.search).get('lang')") == "zh"
    switch_language(page, "en", "q6")
    assert page.inner_text("#present-toggle") == "Presentation mode (p)"
    assert page.inner_text(".hop-caption.current") == "Routing table: 10.244.1.3 goes out docker0 directly (on-link)."
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.evaluate("document.body.classList.contains('presenting')")
    assert page.console_errors == []


def test_the_browser_language_is_the_default(browser, server_url):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{server_url}/?sample=seed-article&type=pod-to-pod-cross-node")
        wait_ready(page)
        assert page.inner_text("#present-toggle") == "演示模式 (p)"
        assert page.inner_text(".verdict") == "已送达"
        assert page.get_attribute('a[data-lang="zh"]', "aria-current") == "true"
    finally:
        context.close()


@pytest.mark.parametrize("presenting", [False, True], ids=["normal", "presentation"])
def test_screenshots_of_the_seed_lesson_in_chinese(browser, server_url, artifacts, presenting):
    """The cross-node VXLAN hop of the seed article in Chinese at 1920×1080: the CJK font is there (no tofu: every
    character the caption uses has a glyph of the same width as in Noto Sans CJK SC) and the caption fits its row."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        query = {"sample": "seed-article", "type": "pod-to-pod-cross-node", "src": "pod/default/api-1",
                 "dst": "pod/default/api-2:8080", "step": "8", "lang": "zh"}
        page.goto(f"{server_url}/?{urlencode(query)}")
        wait_ready(page, "q8")
        if presenting:
            page.keyboard.press("p")
            page.wait_for_selector("body.presenting")
            page.wait_for_timeout(400)
        caption = page.inner_text(".hop-caption.current")
        assert caption == "vxlanc0a8000c 把帧封装进 UDP 192.168.0.11 → 192.168.0.12:4789，VNI 1。"
        fonts = page.evaluate("""() => document.fonts.check('16px "Noto Sans CJK SC"', '封装')""")
        assert fonts is True
        fits = page.evaluate("""() => { const c = document.querySelector('.caption-row');
            return c.scrollWidth <= c.clientWidth && c.scrollHeight <= c.clientHeight + 1; }""")
        assert fits
        page.screenshot(path=str(artifacts / f"zh-seed-cross-node-{'presentation' if presenting else 'normal'}.png"))
    finally:
        context.close()


# Every diagram label the browser draws with a Chinese character: its raw text (with <b>), the drawn font size and
# the drawn width. The server fits labels to their boxes with `_text_width` (webapp/figures/diagram.py); a label
# fits its box when the browser draws it no wider than that estimate.
CHINESE_LABELS_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const groups = gd.querySelector('.scatterlayer').children, out = [];
  gd.data.forEach((trace, i) => {
    if (trace.mode !== 'text' || !groups[i]) return;
    groups[i].querySelectorAll('.textpoint text').forEach((el, k) => {
      const raw = trace.text[k] || '';
      const box = el.getBoundingClientRect();
      if (/[\\u4e00-\\u9fff]/.test(raw) && box.width > 0)
        out.push({raw: raw, size: parseFloat(getComputedStyle(el).fontSize), width: box.width});
    });
  });
  return out;
}"""


@pytest.mark.parametrize("viewport", [(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
@pytest.mark.parametrize("presenting", [False, True], ids=["normal", "presentation"])
def test_chinese_diagram_labels_are_drawn_no_wider_than_fitted(browser, server_url, viewport, presenting):
    from webapp.figures.diagram import PIXELS_PER_UNIT, _text_width

    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    try:
        query = {"sample": "seed-article", "type": "loadbalancer", "src": "203.0.113.10", "dst": "203.0.113.100:80",
                 "lang": "zh"}
        page.goto(f"{server_url}/?{urlencode(query)}")
        wait_ready(page)
        if presenting:
            page.keyboard.press("p")
            page.wait_for_selector("body.presenting")
            page.wait_for_timeout(500)
        labels = page.evaluate(CHINESE_LABELS_JS)
        drawn = {label["raw"] for label in labels}
        balancer = "<b>负载均衡器</b>" if presenting else "<b>云负载均衡器</b>"
        assert {balancer, "<b>外部客户端</b>"} <= drawn
        too_wide = []
        for label in labels:
            bold = label["raw"].startswith("<b>")
            plain = re.sub(r"</?b>", "", label["raw"])
            estimate = _text_width(plain, label["size"], bold) * PIXELS_PER_UNIT
            if label["width"] > estimate + 1:
                too_wide.append((plain, round(label["width"], 1), round(estimate, 1)))
        assert too_wide == []
    finally:
        context.close()
