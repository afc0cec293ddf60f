"""Which language to speak: from the command line's environment (`LC_ALL`, `LC_MESSAGES`, `LANG`) or a browser's
`Accept-Language` header. The languages themselves are the catalogues' (`webapp.narration.LANGUAGES`). Core
module: no dash."""

from __future__ import annotations

from typing import Mapping

from webapp.narration import LANGUAGE, LANGUAGES

DEFAULT = LANGUAGE
"""English, when nothing asks for another language."""

LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
"""POSIX precedence: the first one set and not empty decides the language of messages."""


def supported(tag: str | None) -> str | None:
    """The product language a locale name or language tag asks for (`zh_CN.UTF-8`, `zh-Hans`, `en-GB` …), or None."""
    primary = (tag or "").strip().replace("_", "-").split(".")[0].split("@")[0].split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def language_from_environment(environ: Mapping[str, str]) -> str:
    """The language of a command run with these environment variables: `zh_CN.UTF-8` gives Chinese, `C`,
    `POSIX` or an unknown language English."""
    for name in LOCALE_VARIABLES:
        value = environ.get(name)
        if value:
            return supported(value) or DEFAULT
    return DEFAULT


def language_from_accept(header: str | None) -> str:
    """The language a browser prefers among ours, from its `Accept-Language` header (RFC 9110 §12.5.4: the
    highest q-value wins, ties in the order given; q=0 refuses). English when it names none of ours."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, *params = [p.strip() for p in part.split(";")]
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = supported(tag)
        if language is not None and weight > 0:
            ranked.append((-weight, index, language))
    return min(ranked)[2] if ranked else DEFAULT
