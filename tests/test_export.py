"""Export (issue 12): stills of a hop (the figure, then SVG/PNG by kaleido), animations (GIF/MP4), the handout.
The figure tests need no browser; the rendering ones drive kaleido's headless Chromium (Debian's)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.engine.flows import trace_flow
from webapp.export.animation import Still, timeline
from webapp.export.snapshot import (
    COLORS, NORMAL, PRESENT, caption_lines, flow_diagram, frame_index, frames, marker_style, snapshot, wrap,
)
from webapp.loaders import load_sample
from webapp.narration import narration_language

ROOT = Path(__file__).resolve().parent.parent
VXLAN = ("flannel-vxlan", "pod/frontend-1", "pod/backend-2:8080", 9)
"""A cross-node flow and its encapsulation hop (flannel.1 on node-1)."""
DNAT = ("seed-article", "pod/default/api-1", "svc/default/web:80", 7)
"""A pod-to-Service flow and its DNAT hop (KUBE-SEP-… on node-1)."""
CONTAINER = ("seed-article", "pod/default/web-1:log-agent", "localhost:80")
"""Container to container: 3 hops each way, all in one pod."""

needs_chromium = pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and not os.environ.get("BROWSER_PATH"),
                                    reason="Debian's chromium is not installed (scripts/install-test-deps.sh)")


def flow(sample: str, src: str, dst: str, language: str = "en"):
    cluster = load_sample(sample)
    with narration_language(language):
        trace = trace_flow(cluster, src, dst)
        diagram = flow_diagram(cluster, trace)
    return cluster, trace, diagram, frames(diagram, trace)


def still(case, width: int, height: int, labels: str = NORMAL, language: str = "en") -> dict:
    sample, src, dst, step = case
    _, trace, diagram, all_frames = flow(sample, src, dst, language)
    with narration_language(language):
        return snapshot(diagram, trace, all_frames, frame_index(all_frames, step), width=width, height=height,
                        labels=labels)


# --- the figure -----------------------------------------------------------------------------------------------

def test_frames_follow_the_player_request_then_reply():
    _, trace, _, all_frames = flow(*VXLAN[:3])
    assert [(f.phase, f.number) for f in all_frames][:2] == [("request", 1), ("request", 2)]
    assert len(all_frames) == len(trace.hops) + len(trace.reply) == 38
    assert frame_index(all_frames, 9) == 8
    assert frame_index(all_frames, 1, reply=True) == 19
    with pytest.raises(ValueError, match=r"^step 20: the request has 19 hops \(1–19\)$"):
        frame_index(all_frames, 20)


def test_the_marker_at_the_encapsulation_and_at_the_dnat_is_the_players():
    _, _, _, vxlan = flow(*VXLAN[:3])
    assert marker_style(vxlan[8]) == ("#2563eb", "circle", "VXLAN encap")
    assert marker_style(vxlan[13]) == ("#2563eb", "circle", "decap")
    assert marker_style(vxlan[19]) == ("#16a34a", "circle", "reply")
    _, _, _, dnat = flow(*DNAT[:3])
    assert marker_style(dnat[6]) == ("#7c3aed", "diamond", "DNAT")
    assert marker_style(dnat[5]) == ("#2563eb", "circle", "")


def test_the_caption_says_where_what_and_the_headers_inside_and_outside_the_tunnel():
    _, trace, _, all_frames = flow(*VXLAN[:3])
    assert caption_lines(trace, all_frames[8]) == [
        "Hop 9 of 19 · flannel.1 in host/node-1",
        "flannel.1 wraps the frame in UDP 192.168.0.11 → 192.168.0.12:8472, VNI 1.",
        "tcp 10.244.0.2:59979 → 10.244.1.3:8080",
        "outer header: udp 192.168.0.11:59936 → 192.168.0.12:8472, VNI 1",
    ]
    _, trace, _, all_frames = flow(*DNAT[:3], language="zh")
    with narration_language("zh"):
        assert caption_lines(trace, all_frames[6], "自己的说明") == [
            "第 7 跳（共 12 跳）· host/node-1 中的 iptables", "自己的说明", "tcp 10.244.1.3:51990 → 10.244.1.2:80"]


def test_the_still_keeps_one_label_set_and_places_marker_trail_and_highlight_at_the_hop():
    figure = still(VXLAN, 1280, 720)
    names = [t.get("name") for t in figure["data"]]
    assert "present labels" not in names and "targets" not in names
    assert names[-4:] == ["request trail", "highlight", "envelope", "packet"]
    by = {t["name"]: t for t in figure["data"] if t.get("name") in ("request trail", "highlight", "envelope",
                                                                         "packet")}
    assert (by["packet"]["x"], by["packet"]["y"]) == ([7.85], [-7.75])
    assert (by["highlight"]["x"], by["envelope"]["x"]) == ([7.85], [7.85])
    assert by["packet"]["text"] == ["<b>VXLAN encap</b>"]
    assert list(zip(by["request trail"]["x"], by["request trail"]["y"])) == [
        (2.35, -4.74), (2.35, -5.5), (2.35, -5.5), (2.9, -6.23), (5.15, -6.55), (7.85, -7.75), (7.85, -7.75),
        (7.85, -7.75), (7.85, -7.75)]
    assert figure["layout"]["width"] == 1280 and figure["layout"]["height"] == 720
    present = still(VXLAN, 1280, 720, labels=PRESENT)
    assert "present labels" in [t.get("name") for t in present["data"]]
    assert not any(str(t.get("uid", "")).startswith("nvn") for t in present["data"])
    dnat = {t["name"]: t for t in still(DNAT, 1000, 800)["data"] if t.get("name") in ("envelope", "packet")}
    assert dnat["envelope"]["x"] == [None]  # no tunnel at the DNAT: no envelope
    assert dnat["packet"]["marker"]["color"] == COLORS["request_nat"]


def test_wrap_cuts_latin_at_spaces_and_chinese_anywhere():
    assert wrap("the packet leaves by eth0 towards the bridge", 16) == ["the packet", "leaves by eth0", "towards the",
                                                                          "bridge"]
    assert wrap("数据包离开 eth0 进入网桥", 10) == ["数据包离开", "eth0 进入", "网桥"]


def test_the_timeline_moves_between_hops_drawn_apart_and_rests_on_hops_drawn_together():
    points = [(0.0, 0.0), (0.0, 0.0), (1.0, 0.0), (2.0, 1.0)]
    assert timeline(points, 2, 1000) == (
        Still(0, 0.0, 1000), Still(1, 0.0, 350), Still(1, 1 / 3, 325), Still(1, 2 / 3, 325),
        Still(2, 0.0, 350), Still(2, 1 / 3, 325), Still(2, 2 / 3, 325), Still(3, 0.0, 2000))
    assert len(timeline(points, 0, 1000)) == 4


# --- rendered by kaleido --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered():
    """SVG and PNG of the VXLAN hop (1280×720) and of the DNAT hop (1000×800), in one browser session."""
    from webapp.export.render import render

    vxlan, dnat = still(VXLAN, 1280, 720), still(DNAT, 1000, 800)
    svg = render([vxlan, dnat], "svg")
    png = render([vxlan, dnat], "png")
    return {"vxlan": (vxlan, svg[0].decode(), png[0]), "dnat": (dnat, svg[1].decode(), png[1])}


def marker_pixels(figure: dict, x: float, y: float) -> tuple[float, float]:
    """Where plotly draws diagram point (x, y), in the plot area's pixels (the markers' translate): equal scales on
    both axes (scaleanchor), the diagram centred."""
    layout = figure["layout"]
    margin = layout["margin"]
    width = layout["width"] - margin["l"] - margin["r"]
    height = layout["height"] - margin["t"] - margin["b"]
    (x0, x1), (y0, y1) = layout["xaxis"]["range"], layout["yaxis"]["range"]
    ppu = min(width / (x1 - x0), height / (y1 - y0))
    return width / 2 + (x - (x0 + x1) / 2) * ppu, height / 2 - (y - (y0 + y1) / 2) * ppu


def point_at(svg: str, fill: str, stroke: str) -> tuple[float, float]:
    """The one marker drawn with this fill and outline (the trail's dots have no outline)."""
    found = re.findall(r'<path class="point" transform="translate\(([\d.]+),([\d.]+)\)"[^>]*'
                       + r'(?:fill: ' + re.escape(fill) + r'[^>]*stroke: ' + re.escape(stroke)
                       + r'|stroke: ' + re.escape(stroke) + r'[^>]*fill: ' + re.escape(fill) + ')', svg)
    assert len(found) == 1, found
    return float(found[0][0]), float(found[0][1])


@needs_chromium
@pytest.mark.parametrize(("case", "size"), [("vxlan", (1280, 720)), ("dnat", (1000, 800))])
def test_svg_and_png_have_the_asked_size(rendered, case, size):
    from PIL import Image

    _, svg, png = rendered[case]
    assert re.match(r'<svg [^>]*width="(\d+)" height="(\d+)"', svg).groups() == tuple(map(str, size))
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", size)


@needs_chromium
def test_the_vxlan_svg_has_the_labels_the_marker_on_flannel_and_the_caption(rendered):
    figure, svg, _ = rendered["vxlan"]
    texts = set(re.findall(r">([^<>]+)</(?:text|tspan)>", svg))
    assert {"node-1", "node-2", "flannel.1", "frontend-1", "backend-2", "cni0  10.244.0.1/24",
            "VXLAN tunnel (VNI 1, UDP 8472)", "VXLAN encap", "Hop 9 of 19 · flannel.1 in host/node-1",
            "outer header: udp 192.168.0.11:59936 → 192.168.0.12:8472, VNI 1"} <= texts
    expected = marker_pixels(figure, 7.85, -7.75)
    for fill, stroke in (("rgb(37, 99, 235)", "rgb(255, 255, 255)"),  # the packet
                         ("rgb(234, 88, 12); fill-opacity: 0.3", "rgb(194, 65, 12)"),  # its VXLAN envelope
                         ("none", "rgb(245, 158, 11)")):  # the highlight frame
        assert point_at(svg, fill, stroke) == pytest.approx(expected, abs=1.0)


@needs_chromium
def test_the_dnat_svg_has_the_violet_diamond_on_kube_proxy_labelled_dnat(rendered):
    figure, svg, _ = rendered["dnat"]
    assert "<tspan style=\"font-weight:bold\">DNAT</tspan>" in svg
    assert "Hop 7 of 12 · iptables in host/node-1" in svg
    packet = next(t for t in figure["data"] if t.get("name") == "packet")
    assert point_at(svg, "rgb(124, 58, 237)", "rgb(255, 255, 255)") == pytest.approx(
        marker_pixels(figure, packet["x"][0], packet["y"][0]), abs=1.0)
    assert re.search(r'd="M[\d.]+,0L0,[\d.]+L-[\d.]+,0L0,-[\d.]+Z" style="[^"]*fill: rgb\(124, 58, 237\)', svg)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webapp", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=600)


@needs_chromium
def test_export_image_writes_the_asked_png_and_says_so(tmp_path):
    from PIL import Image

    out = tmp_path / "hop.png"
    done = run_cli("export", "image", "--sample", "seed-article", "--from", "pod/default/api-1", "--to",
                   "svc/default/web:80", "--step", "7", "--width", "800", "--height", "500", "-o", str(out),
                   "--lang", "zh")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{out}: {out.stat().st_size:,} bytes\n"
    assert Image.open(out).size == (800, 500)


def test_export_image_refuses_a_hop_the_flow_lacks_and_an_unknown_format(tmp_path):
    done = run_cli("export", "image", "--sample", "seed-article", "--from", "pod/default/api-1", "--to",
                   "svc/default/web:80", "--step", "13", "-o", str(tmp_path / "x.png"))
    assert (done.returncode, done.stderr) == (2, "k8s-netviz export: step 13: the request has 12 hops (1–12)\n")
    done = run_cli("export", "image", "--sample", "seed-article", "--from", "pod/default/api-1", "--to",
                   "svc/default/web:80", "--step", "1", "-o", str(tmp_path / "x.jpg"))
    assert (done.returncode, done.stderr) == (
        2, f"k8s-netviz export: {tmp_path / 'x.jpg'}: give --format svg or png (or a file name ending in .svg or "
           f".png)\n")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.jpg").exists()


# --- animation ------------------------------------------------------------------------------------------------

@needs_chromium
def test_the_gif_has_one_frame_per_hop_and_in_between_frames_and_the_asked_size(tmp_path):
    from PIL import Image

    _, trace, _, all_frames = flow(*CONTAINER)
    points = [f.point for f in all_frames]
    expected = len(timeline(points, 1, 1100))
    moves = sum(1 for a, b in zip(points, points[1:]) if a != b)
    assert expected == len(all_frames) + moves == 6 + 4  # log-agent → lo → nginx, and back
    out = tmp_path / "flow.gif"
    done = run_cli("export", "animation", "--sample", CONTAINER[0], "--from", CONTAINER[1], "--to", CONTAINER[2],
                   "--tween", "1", "--width", "640", "--height", "360", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: {out.stat().st_size:,} bytes, {expected} frames, ")
    gif = Image.open(out)
    assert (gif.format, gif.size, gif.n_frames) == ("GIF", (640, 360), expected)
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert durations == [s.duration_ms // 10 * 10 for s in timeline(points, 1, 1100)]


# --- handout --------------------------------------------------------------------------------------------------

SMALL_LESSON = """\
kind: Lesson
apiVersion: k8s-netviz/v1
name: two-steps
title: {en: "Two steps", zh: "两步"}
cluster: seed-article
steps:
  - section: {en: "Across nodes", zh: "跨节点"}
    title: {en: "VXLAN", zh: "VXLAN 隧道"}
    flow: {type: pod-to-pod-cross-node, from: pod/default/api-1, to: pod/default/web-2:80}
    whatIf: {overlay: flannel-vxlan}
    stops: [{kind: vxlan, action: encapsulate}]
    caption: {en: "flannel.1 wraps the frame.", zh: "flannel.1 封装数据帧。"}
    quiz:
      at: {kind: vxlan, action: encapsulate}
      question: {en: "Where does the outer header go?", zh: "外层头部发往哪里？"}
  - title: {en: "DNAT", zh: "DNAT"}
    flow: {type: pod-to-service, from: pod/default/api-1, to: svc/default/web:80}
    stops: [7]
    caption: {en: "kube-proxy's rule picks web-1.", zh: "kube-proxy 的规则选中 web-1。"}
"""


def test_the_seed_lessons_handout_has_every_step_every_stop_and_every_hop_table():
    from webapp.export.handout import Picture, handout_markdown
    from webapp.lessons import builtin_lesson, resolve_step

    lesson = builtin_lesson("seed-article")
    resolved = [resolve_step(step) for step in lesson.steps]
    pictures = [[Picture(f"s{n}-{stop + 1}.png", n, stop + 1) for stop in done.stops]
                for n, done in enumerate(resolved, 1)]
    text = handout_markdown(lesson, resolved, pictures, "seed_files", "en")
    lines = text.splitlines()
    assert lines[0] == "# Kubernetes networking, after the seed article"
    assert len([line for line in lines if line.startswith("### ")]) == len(lesson.steps) == 27
    assert len([line for line in lines if line.startswith("![")]) == sum(len(d.stops) for d in resolved) == 59
    assert len([line for line in lines if line == "#### Hops"]) == 27
    assert lines.count("| # | where | device | what | packet as it leaves |") == 27
    assert "**Question:** flannel.1 is about to encapsulate the packet. Which destination will the outer UDP " \
           "header carry?" in lines
    assert "![Stop at hop 7](seed_files/s2-7.png)" in lines


@needs_chromium
def test_export_handout_writes_markdown_and_a_png_per_stop(tmp_path):
    from PIL import Image

    lesson = tmp_path / "two.yaml"
    lesson.write_text(SMALL_LESSON, encoding="utf-8")
    out = tmp_path / "out" / "notes.md"
    out.parent.mkdir()
    done = run_cli("export", "handout", str(lesson), "-o", str(out), "--width", "900", "--height", "600",
                   "--lang", "zh")
    assert (done.returncode, done.stdout) == (0, f"{out}: 2 pictures\n"), done.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "notes_files").iterdir()) == ["step-01-hop-09.png",
                                                                                  "step-02-hop-07.png"]
    for picture in (tmp_path / "out" / "notes_files").iterdir():
        assert Image.open(picture).size == (900, 600)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:12] == [
        "# 两步", "",
        "## 跨节点", "",
        "### 1. VXLAN 隧道", "",
        "*第 1 步（共 2 步）* · 通信：`pod-to-pod-cross-node` `pod/default/api-1` → `pod/default/web-2:80` (tcp)", "",
        "flannel.1 封装数据帧。", "",
        "![停在第 9 跳](notes_files/step-01-hop-09.png)", "",
    ]
    assert lines[12] == "*停在第 9 跳：* flannel.1 把帧封装进 UDP 192.168.0.11 → 192.168.0.12:8472，VNI 1。"
    assert lines[14:18] == ["**问题：** 外层头部发往哪里？", "", "**答案：** 192.168.0.12", ""]
    assert lines[18:22] == ["#### 逐跳", "", "| # | 位置 | 设备 | 动作 | 离开时的数据包 |", "|---|---|---|---|---|"]
    assert lines[30] == ("| **9** | **host/node-1** | **flannel.1** | **vxlan/encapsulate** | "
                         "**[udp 192.168.0.11:55623 → 192.168.0.12:8472 vni 1] tcp 10.244.1.3:51865 → "
                         "10.244.2.2:80** |")
    assert "结果：已送达" in lines
    assert lines[-1] == f"由 `k8s-netviz export handout {lesson} --lang zh` 生成。"


@needs_chromium
def test_the_mp4_is_h264_of_the_asked_size_and_lasts_the_timeline(tmp_path):
    av = pytest.importorskip("av")
    from webapp.export.animation import MP4_FPS

    _, _, _, all_frames = flow(*CONTAINER)
    stills = timeline([f.point for f in all_frames], 0, 500)
    out = tmp_path / "flow.mp4"
    done = run_cli("export", "animation", "--sample", CONTAINER[0], "--from", CONTAINER[1], "--to", CONTAINER[2],
                   "--tween", "0", "--hop-ms", "500", "--width", "640", "--height", "360", "-o", str(out))
    assert done.returncode == 0, done.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 640, 360)
    assert decoded == sum(round(s.duration_ms * MP4_FPS / 1000) for s in stills) == 5 * 12 + 50


# --- SCTP (issue 17) -----------------------------------------------------------------------------------------

SCTP_CLUSTER = """\
name: sctp
network: {overlay: flannel-vxlan, podCIDR: 10.244.0.0/16, nodeNetwork: 192.168.0.0/24}
nodes:
  - name: node-1
    pods:
      - {name: client-1, containers: [{name: app}]}
  - name: node-2
    pods:
      - {name: sig-1, labels: {app: sig}, containers: [{name: m3ua, ports: [{port: 2905, protocol: SCTP}]}]}
services:
  - {name: sig, selector: {app: sig}, ports: [{port: 2905, protocol: SCTP}]}
"""


def test_every_proto_option_takes_sctp():
    """Every command that takes a protocol takes the three kube-proxy renders rules for, as `trace` does."""
    import argparse

    from webapp.cli import build_parser

    found: dict[str, tuple[str, ...]] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(child, f"{name} {sub}".strip())
            elif "--proto" in action.option_strings:
                found[name] = tuple(action.choices)

    walk(build_parser(), "")
    every = ("tcp", "udp", "sctp")
    assert found == {"trace": every, "policy": every, "lab verify": every, "export image": every,
                     "export animation": every}


@pytest.mark.parametrize(("proto", "hops"), [("sctp", 21), ("udp", 10)])
def test_export_image_traces_the_protocol_asked(proto, hops, tmp_path, capsys):
    """`export image --proto sctp` walks the SCTP connection across nodes (DNATed by kube-proxy's `-m sctp` rule);
    `--proto udp` to the same port finds no Service port and ends sooner. Step 99 is past either end, so the
    command answers with the request's length and draws nothing."""
    from webapp.cli import main

    path = tmp_path / "sctp.yaml"
    path.write_text(SCTP_CLUSTER)
    out = tmp_path / "hop.svg"
    code = main(["export", "image", str(path), "--from", "pod/client-1", "--to", "svc/sig:2905", "--proto", proto,
                 "--step", "99", "-o", str(out)])
    assert (code, capsys.readouterr().err) == (2, f"k8s-netviz export: step 99: the request has {hops} hops "
                                                  f"(1–{hops})\n")
    assert not out.exists()
