"""The exported pictures' and handout's own words, in every language (`say` speaks the current narration
language, `webapp.narration.narration_language`). Terms follow docs/glossary.md. Core module: no dash."""

from __future__ import annotations

from typing import Mapping

from webapp.narration import current_language

EXPORT_CATALOGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "caption.hop": "Hop {number} of {total} · {device} in {netns}",
        "caption.reply": "Reply, hop {number} of {total} · {device} in {netns}",
        "caption.outer": "outer header: {proto} {src} → {dst}, VNI {vni}",
        "caption.dead": "The packet ends here: {reason}",
        "handout.step": "Step {number} of {total}",
        "handout.flow": "Flow: {flow}",
        "handout.stop": "Stop at hop {number}",
        "handout.stop.line": "*Stop at hop {number}:* {explain}",
        "handout.hops": "Hops",
        "handout.col.number": "#",
        "handout.col.where": "where",
        "handout.col.device": "device",
        "handout.col.what": "what",
        "handout.col.packet": "packet as it leaves",
        "handout.outcome": "Outcome: {disposition}",
        "handout.question": "**Question:** {question}",
        "handout.answer": "**Answer:** {answer}",
        "handout.made": "Made with `{command}`.",
    },
    "zh": {
        "caption.hop": "第 {number} 跳（共 {total} 跳）· {netns} 中的 {device}",
        "caption.reply": "应答，第 {number} 跳（共 {total} 跳）· {netns} 中的 {device}",
        "caption.outer": "外层头部：{proto} {src} → {dst}，VNI {vni}",
        "caption.dead": "数据包到此为止：{reason}",
        "handout.step": "第 {number} 步（共 {total} 步）",
        "handout.flow": "通信：{flow}",
        "handout.stop": "停在第 {number} 跳",
        "handout.stop.line": "*停在第 {number} 跳：* {explain}",
        "handout.hops": "逐跳",
        "handout.col.number": "#",
        "handout.col.where": "位置",
        "handout.col.device": "设备",
        "handout.col.what": "动作",
        "handout.col.packet": "离开时的数据包",
        "handout.outcome": "结果：{disposition}",
        "handout.question": "**问题：** {question}",
        "handout.answer": "**答案：** {answer}",
        "handout.made": "由 `{command}` 生成。",
    },
}
"""Language → message id → template: the same keys and fields in every language (tests/test_catalogs.py)."""


def say(key: str, /, **fields: object) -> str:
    """The export's text `key` in the current narration language (English for a language it lacks)."""
    catalog = EXPORT_CATALOGS.get(current_language(), EXPORT_CATALOGS["en"])
    return catalog[key].format(**fields)
