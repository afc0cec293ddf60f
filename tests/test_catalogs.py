"""Every message catalogue of the product — the engine's narration, the page's, and any later one (lessons …)
— speaks English and Chinese with exactly the same keys and the same format fields per key.

A catalogue is found, not listed: any module-level `MESSAGES`, `CATALOGS` or `*_CATALOGS` mapping of language →
{key: template} in a module under webapp/ joins these tests by being defined."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from string import Formatter
from typing import Mapping

import pytest

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"
CATALOGUE_NAME = re.compile(r"^(MESSAGES|CATALOGS|[A-Z_]+_CATALOGS)$")
LANGUAGES = {"en", "zh"}


def catalogue_names() -> list[tuple[str, str]]:
    """(module, name) of every module-level assignment to a catalogue name under webapp/."""
    found = []
    for path in sorted(WEBAPP.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        module = ".".join(path.relative_to(WEBAPP.parent).with_suffix("").parts)
        for node in tree.body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if isinstance(target, ast.Name) and CATALOGUE_NAME.match(target.id):
                found.append((module, target.id))
    return found


CATALOGUES = catalogue_names()


def load(module: str, name: str) -> Mapping[str, Mapping[str, str]]:
    return getattr(importlib.import_module(module), name)


def format_fields(template: str) -> set[tuple[str, str]]:
    """The (field, format spec) pairs of a template: `{mark:#x}` must stay `{mark:#x}` in every language."""
    return {(name, spec or "") for _, name, spec, _ in Formatter().parse(template) if name is not None}


def test_the_known_catalogues_are_found():
    assert {("webapp.narration", "MESSAGES"), ("webapp.app.catalog", "CATALOGS")} <= set(CATALOGUES)


def differences(catalogue: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What keeps a catalogue from speaking both languages alike: languages, missing/extra keys, fields."""
    if set(catalogue) != LANGUAGES:
        return [f"languages {sorted(catalogue)}"]
    english, chinese = catalogue["en"], catalogue["zh"]
    found = [f"missing in zh: {key}" for key in sorted(set(english) - set(chinese))]
    found += [f"only in zh: {key}" for key in sorted(set(chinese) - set(english))]
    found += [f"fields differ: {key}" for key in sorted(set(english) & set(chinese))
              if format_fields(english[key]) != format_fields(chinese[key])]
    return found


@pytest.mark.parametrize(("module", "name"), CATALOGUES)
def test_every_catalogue_speaks_english_and_chinese_with_the_same_keys_and_fields(module, name):
    assert differences(load(module, name)) == []


def test_a_missing_key_an_extra_key_or_a_changed_field_is_a_difference():
    english = {"a": "mark {mark:#x} on {dev}", "b": "yes"}
    assert differences({"en": english, "zh": {"a": "{dev} 上的标记 {mark:#x}"}}) == ["missing in zh: b"]
    assert differences({"en": english, "zh": {**english, "c": "多"}}) == ["only in zh: c"]
    assert differences({"en": english, "zh": {"a": "{dev} 上的标记 {mark}", "b": "是"}}) == ["fields differ: a"]
    assert differences({"en": english}) == ["languages ['en']"]


PROSE = re.compile(r"(?<![\w./-])[a-z]{2,}\s+[a-z]{2,}(?![\w./-])")
"""Two lower-case words in a row: prose (identifiers and names are one word, capitalised or hyphenated: `TCP RST`,
`flannel host-gw`)."""
FIELD = re.compile(r"\{[^{}]*\}")


def without_fields(template: str) -> str:
    return FIELD.sub("", template)


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize(("module", "name"), CATALOGUES)
def test_no_english_sentence_is_left_untranslated(module, name):
    """A Chinese template equal to the English one is only allowed when the English is no sentence: an
    identifier or a name (`NodePort`, `k8s-netviz`, `pasted.yaml`, `=> {disposition}`)."""
    catalogue = load(module, name)
    left = [key for key, template in catalogue["en"].items() if catalogue["zh"][key] == template
            and PROSE.search(without_fields(template))]
    assert left == []
    untranslated = [key for key, template in catalogue["zh"].items()
                    if PROSE.search(without_fields(template)) and not CJK.search(template)]
    assert untranslated == [], "English prose in a Chinese template"
