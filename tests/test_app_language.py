"""The page in Chinese without a browser: the language of a request (`?lang`, the page's URL in the Referer,
Accept-Language), the layout and the callbacks' text in that language, the switch."""

from __future__ import annotations

import json

import pytest

from webapp.app import create_app, state
from webapp.app.cache import open_cache
from webapp.app.callbacks import draw_view
from webapp.app.inspector import nat_badge
from webapp.app.language import language_switch
from webapp.narration import narration_language
from webapp.variants import ViewSettings

SEED_FLOW = ("pod-to-pod-cross-node", "pod/default/api-1", "pod/default/api-2:8080")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return open_cache(str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def client(cache):
    return create_app(cache=cache, warm=False).server.test_client()


def layout_text(client, **headers) -> str:
    response = client.get("/_dash-layout", headers=headers)
    assert response.status_code == 200
    return json.dumps(response.get_json(), ensure_ascii=False)


@pytest.mark.parametrize(("headers", "chinese"), [
    ({"Referer": "http://127.0.0.1:8050/?sample=seed-article&lang=zh"}, True),
    ({"Referer": "http://127.0.0.1:8050/?lang=en", "Accept-Language": "zh-CN,zh;q=0.9"}, False),
    ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, True),
    ({"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}, False),
    ({"Referer": "http://127.0.0.1:8050/?lang=fr", "Accept-Language": "zh-TW"}, True),
    ({}, False),
])
def test_the_layout_speaks_the_page_language(client, headers, chinese):
    page = layout_text(client, **headers)
    assert ("演示模式 (p)" in page, "Presentation mode (p)" in page) == (chinese, not chinese)
    assert ('"data-page-lang": "zh-CN"' in page) == chinese
    assert ("选择一条通信，然后按播放。" in page) == chinese


def test_the_lang_parameter_of_the_request_itself_wins(client):
    response = client.get("/_dash-layout?lang=zh", headers={"Accept-Language": "en"})
    assert "演示模式 (p)" in json.dumps(response.get_json(), ensure_ascii=False)


def test_a_request_leaves_no_language_behind(client):
    layout_text(client, Referer="http://x/?lang=zh")
    assert "Presentation mode (p)" in layout_text(client)


def test_the_switch_links_every_language_and_marks_the_current_one():
    with narration_language("zh"):
        switch = language_switch("zh")
    label, links = switch.children
    assert label.children == "语言"
    assert [(a.children, a.href, a.lang, a.className) for a in links.children] == [
        ("English", "?lang=en", "en", "language"), ("中文", "?lang=zh", "zh-CN", "language current")]


def test_the_callbacks_render_the_trace_in_the_page_language(cache):
    key = state.load_sample_into(cache, "seed-article").key
    with narration_language("zh"):
        out = draw_view(cache, key, *SEED_FLOW, ViewSettings.parse(None, None, None, []), None, None)
    assert out["verdict"] == "已送达"
    assert out["badge"] == "无 NAT：Pod 地址端到端可见（原文的原则成立）"
    captions = [p.children for p in out["caption"]]
    assert captions[8] == "vxlanc0a8000c 把帧封装进 UDP 192.168.0.11 → 192.168.0.12:4789，VNI 1。"
    headings = [h.children for h in out["hops"] if h.className.startswith("phase")]
    assert headings == ["请求", "应答"]
    first_panel = out["inspector"][0].children
    assert first_panel[1].children == "内层头部（L3/L4）"
    english = draw_view(cache, key, *SEED_FLOW, ViewSettings.parse(None, None, None, []), None, None)
    assert english["verdict"] == "Delivered"
    assert [p.children for p in english["caption"]][8] == (
        "vxlanc0a8000c wraps the frame in UDP 192.168.0.11 → 192.168.0.12:4789, VNI 1.")


def test_a_port_only_rewrite_is_said_in_chinese(cache):
    from types import SimpleNamespace

    from webapp.engine.trace import NatChange

    trace = SimpleNamespace(nat=(), port_rewrites=(NatChange(3, "src", "192.168.0.11:51026", "192.168.0.11:61578"),))
    with narration_language("zh"):
        assert nat_badge(trace) == ("无 NAT：Pod 地址端到端可见（原文的原则成立）", "badge ok",
                                    "src 192.168.0.11:51026 → 192.168.0.11:61578（仅端口）")


def test_the_page_load_carries_its_language_to_its_requests_without_a_referer(cache):
    client = create_app(cache=cache, warm=False).server.test_client()  # its own cookie jar
    page = client.get("/?lang=zh")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "netviz_lang=zh" in page.headers["Set-Cookie"] and "SameSite=Strict" in page.headers["Set-Cookie"]
    assert "通信类型" in layout_text(client) and "Communication" not in layout_text(client)
    client.get("/")  # the page without ?lang forgets it: the browser's preference rules again
    assert "Communication" in layout_text(client, **{"Accept-Language": "en"})
