"""The command line in Chinese: `--lang zh|en` (default from LC_ALL / LC_MESSAGES / LANG), Chinese hop
explanations in `trace`, a language-labelled JSON, and `--help` in Chinese; the language choice itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.cli import build_parser
from webapp.cli_text import HELP_ZH, help_texts, requested_language
from webapp.language import language_from_accept, language_from_environment

ROOT = Path(__file__).resolve().parent.parent
FLOW = ["trace", "--sample", "seed-article", "--from", "pod/default/api-1", "--to", "pod/default/api-2:8080"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
    return subprocess.run([sys.executable, "-m", "webapp", *args], cwd=ROOT, env={**environ, **env},
                          capture_output=True, text=True, check=False)


def test_trace_explains_every_hop_in_chinese():
    done = run(*FLOW, "--lang", "zh")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "pod-to-pod-cross-node: pod/default/api-1 → pod/default/api-2:8080 (tcp)"
    assert lines[2] == "      api 发起一个新连接：从 10.244.1.3:57154 到 10.244.2.3:8080（tcp）。"
    assert lines[4] == "      路由表：去往 10.244.2.3 的数据包从 eth0 发出，下一跳 10.244.1.1。"
    assert lines[8] == "      vethb70d95f7 是 docker0 的一个端口：帧进入网桥。"
    assert lines[18] == "      vxlanc0a8000c 把帧封装进 UDP 192.168.0.11 → 192.168.0.12:4789，VNI 1。"
    assert lines[28] == "      UDP 端口 4789，VNI 1：vxlanc0a8000b 剥去外层头部（解封装）。"
    assert lines[38] == "      api 在 10.244.2.3:8080 上收到来自 10.244.1.3:57154 的数据包。"
    assert lines[39:43] == [
        "  => 已送达",
        "  NAT：无（Pod 地址端到端保持不变）",
        "  说明：没有 NAT：目的 Pod 看到的就是源 Pod 自己的 IP（原文的第一、第三条原则）；由 overlay 网络在节点之间传送。",
        "  应答：",
    ]


def test_the_same_trace_in_english_keeps_its_hop_lines_and_adds_the_english_explanations():
    chinese, english = run(*FLOW, "--lang", "zh").stdout.splitlines(), run(*FLOW, "--lang", "en").stdout.splitlines()
    hop_lines = [line for line in english if line[:5].strip().rstrip(".").isdigit()]
    assert hop_lines == [line for line in chinese if line[:5].strip().rstrip(".").isdigit()]
    assert english[2] == "      api sends: a new connection from 10.244.1.3:57154 to 10.244.2.3:8080 (tcp)."
    assert english[39:41] == ["  => delivered", "  NAT: none (pod addresses seen end to end)"]


def test_the_language_defaults_from_the_locale():
    assert run(*FLOW, LANG="zh_CN.UTF-8").stdout.splitlines()[39] == "  => 已送达"
    assert run(*FLOW, LC_ALL="C", LANG="zh_CN.UTF-8").stdout.splitlines()[39] == "  => delivered"
    assert run(*FLOW, "--lang", "en", LANG="zh_CN.UTF-8").stdout.splitlines()[39] == "  => delivered"


def test_json_stays_language_neutral_and_says_which_language_it_narrates_in():
    chinese = json.loads(run(*FLOW, "--json", "--lang", "zh").stdout)
    english = json.loads(run(*FLOW, "--json", "--lang", "en").stdout)
    assert (chinese["language"], english["language"]) == ("zh", "en")

    def neutral(trace):
        return [{k: v for k, v in hop.items() if k != "explain"} for hop in (*trace["hops"], *trace["reply"])]

    assert neutral(chinese) == neutral(english)
    assert chinese["hops"][8]["explain"] == "vxlanc0a8000c 把帧封装进 UDP 192.168.0.11 → 192.168.0.12:4789，VNI 1。"
    assert (chinese["hops"][8]["kind"], chinese["hops"][8]["action"]) == ("vxlan", "encapsulate")


def test_help_speaks_chinese():
    done = run("trace", "--help", LANG="zh_CN.UTF-8")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("用法：k8s-netviz trace [-h]")
    assert "  -h, --help            显示本帮助并退出" in lines
    assert "  --json                把追踪结果打印为一个 JSON 对象" in lines
    assert lines[lines.index("  --network-plugin {flannel,canal}") + 1] == (
        "                        覆盖输入声明的网络插件（假如它执行策略会怎样？）")
    assert "选项:" in lines and "位置参数:" in lines
    top = run("--help", "--lang", "zh").stdout
    assert "看数据包怎样穿过一个 Kubernetes 集群。" in top
    assert "    trace         从 SRC 到 DST 逐跳追踪一个数据包，以及它的应答" in top.splitlines()
    assert "show this help message and exit" in run("trace", "--help", "--lang", "en").stdout


def test_every_english_help_text_has_its_chinese():
    ids = {key for key, *_ in help_texts(build_parser())}
    assert sorted(ids - set(HELP_ZH)) == [], "help texts without Chinese"
    assert sorted(set(HELP_ZH) - ids) == [], "Chinese for help texts that no longer exist"
    chinese = build_parser("zh")
    assert {key: text for key, _, _, text in help_texts(chinese)} == dict(HELP_ZH)


def test_every_command_takes_lang():
    for argv in (["validate", "x"], ["show"], ["serve"], ["lab", "down"], FLOW[:1] + FLOW[1:]):
        assert build_parser().parse_args([*argv, "--lang", "zh"]).lang == "zh"
    assert build_parser("zh").parse_args(["show"]).lang == "zh"


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    (["trace", "--lang", "zh"], {}, "zh"),
    (["trace", "--lang=zh"], {"LANG": "en_US.UTF-8"}, "zh"),
    (["trace", "--lang", "en"], {"LANG": "zh_CN.UTF-8"}, "en"),
    (["trace"], {"LANG": "zh_CN.UTF-8"}, "zh"),
    (["trace", "--", "--lang", "zh"], {}, "en"),
    (["trace", "--lang", "fr"], {"LANG": "zh_CN.UTF-8"}, "zh"),  # argparse refuses fr; its message is in zh
])
def test_requested_language(argv, environ, expected):
    assert requested_language(argv, environ) == expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.Big5"}, "zh"),
    ({"LANG": "en_GB.UTF-8"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_ALL": "", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_MESSAGES": "POSIX", "LANG": "zh_CN.UTF-8"}, "en"),
    ({}, "en"),
])
def test_language_from_environment(environ, expected):
    assert language_from_environment(environ) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("fr-FR,zh-Hans;q=0.5", "zh"),
    ("zh;q=0, en", "en"),
    ("en;q=0.5, zh;q=0.7", "zh"),
    ("de, fr", "en"),
    ("", "en"),
    (None, "en"),
    ("zh;q=x", "en"),
])
def test_language_from_accept_language(header, expected):
    assert language_from_accept(header) == expected
