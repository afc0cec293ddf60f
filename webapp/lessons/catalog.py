"""The lesson feature's own sentences — principles, badges, quiz questions and answers — in English and Chinese.

`MESSAGES[language][key]` is a `str.format` template; both languages have exactly the same keys and the same
fields per key (tests/test_lessons_catalog.py). `text(key, language, **fields)` formats one."""

from __future__ import annotations

import string

LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "principle.pod_to_pod": "All containers talk to all other containers without NAT",
        "principle.node_to_pod": "All nodes talk to all containers (and back) without NAT",
        "principle.own_ip": "The IP a container sees itself as is the IP others see it as",
        "principle.status.holds": "holds: the addresses were not translated",
        "principle.status.holds_ports": "holds: the addresses were kept; only a port changed ({change})",
        "principle.status.broken": "broken at hop {hop}: {field} {before} → {after}",
        "principle.status.not_applicable": "does not apply to this flow",
        "principle.status.not_delivered": "not delivered ({disposition}): nothing to judge",
        "badge.nat": "address translation at this hop: {field} {before} → {after}",
        "badge.port": "port translation at this hop: {field} {before} → {after}",
        "badge.not_delivered": "not delivered: {disposition}",
        "quiz.bridge_or_route": "The frame reaches {device} on {namespace}. Which device does it reach next?",
        "quiz.encapsulation": "{device} wraps the packet for the trip to the other node. "
                              "Which destination does the outer header carry?",
        "quiz.dnat": "{device} on {namespace} decides where this connection goes. "
                     "Which destination does the packet carry after it?",
        "quiz.drop": "The packet reaches {device} on {namespace}. What happens to it?",
        "quiz.next_hop": "Which device does the packet reach next?",
        "quiz.answer.device": "{device} on {namespace}",
        "disposition.delivered": "delivered",
        "disposition.dropped": "dropped",
        "disposition.rejected": "rejected",
        "disposition.no-route": "no route",
        "quiz.outcome.delivered": "it is delivered",
        "quiz.outcome.dropped": "it is dropped",
        "quiz.outcome.rejected": "it is rejected",
        "quiz.outcome.no-route": "there is no route: it goes nowhere",
        "player.needs_cluster": "This step plays on the loaded cluster: load the lecturer's cluster first.",
    },
    "zh": {
        "principle.pod_to_pod": "所有容器和其他容器的通信不需要NAT",
        "principle.node_to_pod": "所有节点和容器间的通信不需要NAT",
        "principle.own_ip": "容器自己看到的IP就是对外呈现的IP",
        "principle.status.holds": "成立：地址没有被转换",
        "principle.status.holds_ports": "成立：地址保持不变，只有端口被改写（{change}）",
        "principle.status.broken": "在第 {hop} 跳被打破：{field} {before} → {after}",
        "principle.status.not_applicable": "不适用于这条流",
        "principle.status.not_delivered": "未送达（{disposition}）：无从判断",
        "badge.nat": "本跳做了地址转换：{field} {before} → {after}",
        "badge.port": "本跳做了端口转换：{field} {before} → {after}",
        "badge.not_delivered": "未送达：{disposition}",
        "quiz.bridge_or_route": "数据帧到达 {namespace} 上的 {device}。它接下来到达哪个设备？",
        "quiz.encapsulation": "{device} 封装这个数据包，准备穿过隧道去另一个节点。外层头部的目的地址是什么？",
        "quiz.dnat": "{namespace} 上的 {device} 决定这个连接去往哪里。经过它之后，数据包的目的地址是什么？",
        "quiz.drop": "数据包到达 {namespace} 上的 {device}。接下来会怎样？",
        "quiz.next_hop": "数据包接下来到达哪个设备？",
        "quiz.answer.device": "{namespace} 上的 {device}",
        "disposition.delivered": "已送达",
        "disposition.dropped": "被丢弃",
        "disposition.rejected": "被拒绝",
        "disposition.no-route": "没有路由",
        "quiz.outcome.delivered": "被送达",
        "quiz.outcome.dropped": "被丢弃",
        "quiz.outcome.rejected": "被拒绝",
        "quiz.outcome.no-route": "没有路由：无处可去",
        "player.needs_cluster": "这一步要在加载的集群上播放：请先加载讲师的集群。",
    },
}


def fields_of(template: str) -> frozenset[str]:
    """The `{field}` names a template uses."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def text(key: str, language: str = "en", **fields: object) -> str:
    """One sentence in `language` (English for a language the catalogue lacks). KeyError for an unknown id, a
    missing field or an unexpected one."""
    template = MESSAGES.get(language, MESSAGES["en"])[key]
    expected = fields_of(template)
    if expected != set(fields):
        raise KeyError(f"{key}: expected fields {sorted(expected)}, got {sorted(fields)}")
    return template.format(**fields)
