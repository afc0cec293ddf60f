"""The command line in Chinese: `--lang zh|en` on every command, and `--help` translated.

The English help texts live with each subcommand's `register` function; `HELP_ZH` holds their Chinese, keyed by
where the text sits in the parser tree (`help_ids`): `"<command path>:desc"` for a parser's description,
`"<command path>:help"` for a subcommand's line in its parent's list, `"<command path>:<option or dest>"` for an
argument (`"trace:--json"`, `"lab verify:paths"`). tests/test_cli_language.py checks that every English help text
has its Chinese. Terms follow docs/glossary.md. Core module: no dash."""

from __future__ import annotations

import argparse
from typing import Iterator, Mapping

from webapp.language import DEFAULT
from webapp.narration import LANGUAGES

CLI_CATALOGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "usage": "usage: ",
        "positionals": "positional arguments",
        "options": "options",
        "lang": "language of the output and of this help: en or zh (default: from LC_ALL / LC_MESSAGES / LANG)",
    },
    "zh": {
        "usage": "用法：",
        "positionals": "位置参数",
        "options": "选项",
        "lang": "输出和本帮助的语言：en 或 zh（默认取自 LC_ALL / LC_MESSAGES / LANG）",
    },
}
"""The command line's own words around the help texts."""

HELP_ZH: Mapping[str, str] = {
    ":desc": "看数据包怎样穿过一个 Kubernetes 集群。",
    "-h": "显示本帮助并退出",
    "validate:help": "检查集群 YAML / 清单；有错误时退出码为 1",
    "validate:paths": "文件、文件夹或示例名",
    "validate:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "validate:--sample": "用内置示例代替 PATH（与 `trace`、`rules` 相同）",
    "validate:--verbose": "同时打印提示（跳过的类型、默认值）",
    "show:help": "打印集群：节点、Pod、Service 和端点",
    "show:paths": "文件、文件夹或示例名（默认：seed-article 示例）",
    "show:--sample": "用内置示例代替 PATH（与 `trace`、`rules` 相同）",
    "show:--node": "同时打印这个节点的数据路径表",
    "show:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "show:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "trace:help": "从 SRC 到 DST 逐跳追踪一个数据包，以及它的应答",
    "trace:desc": ("SRC：pod/[NS/]NAME[:CONTAINER] | node/NAME | IP。  "
                   "DST：IP:PORT | pod/[NS/]NAME:PORT | svc/[NS/]NAME[:PORT] | node/NAME:PORT | localhost:PORT。"),
    "trace:paths": "集群 YAML / 清单（文件或文件夹）",
    "trace:--sample": "用内置示例代替 PATH",
    "trace:--proto": "默认：目的端口声明的协议（声明中有 tcp 或什么都没声明时为 tcp；否则为 udp，再否则为 sctp）",
    "trace:--backend": "在负载均衡做选择的地方，优先选这个端点",
    "trace:--json": "把追踪结果打印为一个 JSON 对象",
    "trace:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "trace:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "rules:help": "打印 kube-proxy（以及执行策略的网络插件）在一个节点上写入的规则",
    "rules:desc": ("打印一个节点的 kube-proxy 规则：iptables-restore 的输入（iptables 模式），ipvsadm -Ln 和 ipset list"
                   "（IPVS 模式），或 KUBE-PORTALS 规则（userspace 模式）。"),
    "rules:paths": "集群 YAML 或清单（文件或文件夹）",
    "rules:--sample": "用内置示例代替 PATH",
    "rules:--node": "要打印其规则的节点",
    "rules:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "rules:--format": "nftables 模式：nft -f 的事务输入（默认），或 `nft list table` 显示的内容",
    "rules:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "policy:help": "按 NetworkPolicy 计算某个端口上哪些 Pod 可以连接哪些 Pod",
    "policy:desc": "集群中 NetworkPolicy 在一个端口上的可达矩阵（Pod × Pod），以及网络插件是否执行它。",
    "policy:paths": "集群 YAML / 清单（文件或文件夹）",
    "policy:--sample": "用内置示例代替 PATH",
    "policy:--port": "目的端口",
    "policy:--namespace": "只看这个命名空间的 Pod",
    "policy:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "policy:--json": "把矩阵打印为一个 JSON 对象",
    "policy:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "export:help": "把一条通信或一节课写成文件：图片、动画、讲义",
    "export image:help": "一条通信在某一跳时的示意图，SVG 或 PNG",
    "export image:desc": "一条通信在第 N 跳时的示意图，带数据包标记、已走过的轨迹和说明文字，输出 SVG 或 PNG（plotly 自带的图片导出）。",
    "export animation:help": "一条通信逐跳行进的动画，GIF 或 MP4",
    "export animation:desc": "数据包逐跳走完一条通信（先请求后应答）的动画，输出 GIF 或 MP4（帧来自同一个图片导出）。",
    "export handout:help": "把一节课写成 Markdown 讲义：每个停顿点一张 PNG，附说明文字和逐跳表格",
    "export handout:lesson": "课程文件，或内置课程的名字",
    "export handout:--cluster": "`loaded` 步骤所用的集群（文件、文件夹或示例名）",
    "export handout:--output": "要写入的 Markdown 文件；图片放在同一文件夹的 <名字>_files/ 中",
    "export image:paths": "集群 YAML / 清单（文件或文件夹）",
    "export image:--sample": "用内置示例代替 PATH",
    "export image:--from": "源，语法同 `trace`：pod/[NS/]NAME[:CONTAINER] | node/NAME | IP",
    "export image:--to": "目的，语法同 `trace`：IP:PORT | pod/… | svc/… | node/NAME:PORT | localhost:PORT",
    "export image:--proto": "默认：目的端口声明的协议（声明中有 tcp 或什么都没声明时为 tcp；否则为 udp，再否则为 sctp）",
    "export image:--backend": "在负载均衡做选择的地方，优先选这个端点",
    "export image:--mode": "假如：kube-proxy 用这种模式（默认：集群的设置）",
    "export image:--overlay": "假如：节点之间用这种 overlay 网络（默认：集群的设置）",
    "export image:--output": "要写入的文件",
    "export animation:paths": "集群 YAML / 清单（文件或文件夹）",
    "export animation:--sample": "用内置示例代替 PATH",
    "export animation:--from": "源，语法同 `trace`：pod/[NS/]NAME[:CONTAINER] | node/NAME | IP",
    "export animation:--to": "目的，语法同 `trace`：IP:PORT | pod/… | svc/… | node/NAME:PORT | localhost:PORT",
    "export animation:--proto": "默认：目的端口声明的协议（声明中有 tcp 或什么都没声明时为 tcp；否则为 udp，再否则为 sctp）",
    "export animation:--backend": "在负载均衡做选择的地方，优先选这个端点",
    "export animation:--mode": "假如：kube-proxy 用这种模式（默认：集群的设置）",
    "export animation:--overlay": "假如：节点之间用这种 overlay 网络（默认：集群的设置）",
    "export animation:--output": "要写入的文件",
    "export image:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "export animation:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "export handout:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "export image:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "export animation:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "export lesson:help": "把一节课写成一个自包含的 HTML 文件，离线即可播放",
    "export lesson:desc": "把一节课写成一个 HTML 文件：示意图、每一步的追踪结果、带讲课按键的播放器、演示模式、头部信息条和测验，中英文两种语言；内嵌 plotly.js。它从 file:// 打开，不需要网络，也不请求任何东西。",
    "export lesson:lesson": "课程文件，或内置课程的名字",
    "export lesson:--cluster": "`loaded` 步骤所用的集群（文件、文件夹或示例名）",
    "export lesson:--output": "要写入的 HTML 文件",
    "export lesson:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "export image:--step": "第几跳，编号与 `k8s-netviz trace` 打印的一致",
    "export image:--reply": "N 指应答的跳数，而不是请求的",
    "export image:--format": "默认：取自 -o 文件名的扩展名",
    "export animation:--format": "默认：取自 -o 文件名的扩展名",
    "export animation:--tween": "相邻两跳之间让数据包移动的过渡帧数（默认 2）",
    "export animation:--hop-ms": "每一跳（停留加移动）的毫秒数（默认 1100）",
    "export animation:--no-reply": "只要请求，不要应答",
    "export image:--width": "图片宽度，单位像素（默认 1600）",
    "export image:--height": "图片高度，单位像素（默认 900）",
    "export image:--present": "用演示模式的标签：更少、更大（默认：页面的普通标签）",
    "export animation:--width": "图片宽度，单位像素（默认 1280）",
    "export animation:--height": "图片高度，单位像素（默认 720）",
    "export animation:--present": "用演示模式的标签：更少、更大（默认：页面的普通标签）",
    "export handout:--width": "图片宽度，单位像素（默认 1600）",
    "export handout:--height": "图片高度，单位像素（默认 900）",
    "export handout:--present": "用演示模式的标签：更少、更大（默认：页面的普通标签）",
    "lesson:help": "检查一个课程文件并打印它的步骤；有错误时退出码为 1",
    "lesson:lesson": "课程文件，或内置课程的名字",
    "lesson:--cluster": "`loaded` 步骤所用的集群（文件、文件夹或示例名）",
    "lesson:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "rules:--mode": "kube-proxy 模式（默认：集群的设置）",
    "serve:help": "运行网页应用",
    "serve:desc": "运行网页可视化工具（默认：原文的示例集群）。",
    "serve:paths": "要打开的集群 YAML / 清单，代替示例",
    "serve:--host": "监听的地址（默认 127.0.0.1）",
    "serve:--port": "端口（默认 8050）",
    "serve:--workers": "工作进程数；大于 1 时用 gunicorn 运行",
    "serve:--cache": "集群缓存：一个文件夹（diskcache，默认 ~/.cache/k8s-netviz）或一个 Redis URL",
    "serve:--max-upload-mb": "接受的最大上传，单位 MB（默认 50）",
    "serve:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "lab:help": "在真实的网络命名空间中搭建集群，并用内核验证追踪结果（需要 root）",
    "lab up:help": "搭建集群的节点、Pod、网桥、VXLAN 和 kube-proxy 规则",
    "lab up:paths": "文件、文件夹或示例名（默认：seed-article 示例）",
    "lab up:--lab": "实验环境编号：网络命名空间命名为 knv<ID>-…（默认 0）",
    "lab up:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "lab verify:help": ("为每条通信（有 NetworkPolicy 时还有策略矩阵的每个单元格）发送真实流量并与路径引擎比较；"
                        "有任何不一致时退出码为 1"),
    "lab verify:paths": "文件、文件夹或示例名（默认：seed-article 示例）",
    "lab verify:--lab": "实验环境编号：网络命名空间命名为 knv<ID>-…（默认 0）",
    "lab verify:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "lab up:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "lab verify:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "lab verify:--type": "只验证这种类型的通信（可重复），例如 pod-to-service",
    "lab verify:--timeout": "探测等待多少秒后算作被丢弃（默认 1.0）",
    "lab verify:--from": "只验证从 SRC 出发的一条通信（追踪的语法：pod/NS/NAME、node/NAME、一个 IP）……",
    "lab verify:--to": "……到 DST（IP:PORT、pod/…:PORT、svc/…、node/…:PORT），并先打印路径引擎的追踪结果",
    "lab verify:--proto": "--from/--to 的协议（默认：端口的协议，与路径引擎追踪时相同：端口两者都声明时为 tcp）",
    "lab verify:--keep": "保留 verify 不得不搭建的实验环境（默认：用完再拆除）",
    "lab down:help": "删除实验环境建立的一切（up 中途崩溃之后也可以）",
    "lab down:--lab": "实验环境编号（默认 0）",
    "lab down:--all": "本机上的所有实验环境",
    "lab fault:help": "故意破坏正在运行的实验环境，看 verify 能否发现",
    "lab fault:paths": "文件、文件夹或示例名（默认：seed-article 示例）",
    "lab fault:--lab": "实验环境编号：网络命名空间命名为 knv<ID>-…（默认 0）",
    "lab fault:--max-bytes": "单个输入文件的大小上限，单位字节（默认 50000000）",
    "lab fault:--network-plugin": "覆盖输入声明的网络插件（假如它执行策略会怎样？）",
    "lab fault:--node": "要破坏的节点（默认：第一个）",
}
"""The Chinese of every English help text of the parser, by `help_ids`."""


def cli_text(key: str, language: str) -> str:
    return CLI_CATALOGS.get(language, CLI_CATALOGS[DEFAULT])[key]


def _argument_id(action: argparse.Action) -> str:
    if isinstance(action, argparse._HelpAction):
        return "-h"
    long = [o for o in action.option_strings if o.startswith("--")]
    return long[0] if long else (action.option_strings[0] if action.option_strings else action.dest)


def help_texts(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, object, str, str]]:
    """(id, owner, attribute, English text) of every help text and description under `parser`: `owner.attribute`
    holds the text."""
    if parser.description:
        yield f"{path}:desc", parser, "description", parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                name = f"{path} {choice.dest}".strip()
                if choice.help:
                    yield f"{name}:help", choice, "help", choice.help
            for name, sub in action.choices.items():
                yield from help_texts(sub, f"{path} {name}".strip())
        elif action.help and action.help != argparse.SUPPRESS and action.dest != "lang":
            key = _argument_id(action)
            yield (key if key == "-h" else f"{path}:{key}"), action, "help", action.help


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _formatter(language: str) -> type[argparse.HelpFormatter]:
    class Formatter(argparse.HelpFormatter):
        def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
            super().add_usage(usage, actions, groups, cli_text("usage", language) if prefix is None else prefix)

    return Formatter


def localize_parser(parser: argparse.ArgumentParser, language: str) -> None:
    """Give every command `--lang` (defaulting to `language`) and, for Chinese, translate the help texts, the
    group titles and `usage:` (a text `HELP_ZH` lacks stays English)."""
    for each in _parsers(parser):
        each.add_argument("--lang", choices=LANGUAGES, default=language, help=cli_text("lang", language))
    if language == DEFAULT:
        return
    for key, owner, attribute, _ in list(help_texts(parser)):
        if key in HELP_ZH:
            setattr(owner, attribute, HELP_ZH[key])
    for each in _parsers(parser):
        each.formatter_class = _formatter(language)
        each._positionals.title = cli_text("positionals", language)
        each._optionals.title = cli_text("options", language)


def requested_language(argv: list[str], environ: Mapping[str, str]) -> str:
    """The language a command line asks for: `--lang X` / `--lang=X` anywhere before `--`, else the locale."""
    from webapp.language import language_from_environment

    for index, arg in enumerate(argv):
        if arg == "--":
            break
        value = argv[index + 1] if arg == "--lang" and index + 1 < len(argv) else (
            arg.partition("=")[2] if arg.startswith("--lang=") else None)
        if value in LANGUAGES:
            return value
    return language_from_environment(environ)
