"""The page's language: `?lang=zh|en` in the page's URL, else the browser's `Accept-Language`. Every request of the
page — the layout and each callback — is served inside `narration_language(...)`, so `catalog.text` and the engine's
narration speak it without any callback passing it along. Callback requests carry the page's URL (and so its
`lang`) in their Referer; assets/netviz-language.js keeps `lang` in the URL and switches it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from dash import html
from flask import Flask, Response, g, request

from webapp.app.catalog import text
from webapp.language import language_from_accept, supported
from webapp.narration import LANGUAGES, narration_language

LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
"""Each language named in itself, as language switches do (not translated)."""
HTML_LANG = {"en": "en", "zh": "zh-CN"}
"""The `<html lang>` of each language: zh-CN picks Simplified Chinese glyphs (Noto Sans CJK SC)."""


LANGUAGE_COOKIE = "netviz_lang"
"""The page's `?lang`, set when the page itself is served: the server sends `Referrer-Policy: no-referrer`, so the
page's own requests (layout, callbacks) carry its language in this same-site cookie instead of a Referer."""


def request_language() -> str:
    """The language this request is for: its own `lang` parameter, the `lang` of the page it comes from (Referer,
    where the browser sends one, else the cookie the page's load set), else the browser's preference."""
    asked = request.args.get("lang")
    if asked is None and request.referrer:
        asked = (parse_qs(urlsplit(request.referrer).query).get("lang") or [None])[0]
    if asked is None:
        asked = request.cookies.get(LANGUAGE_COOKIE)
    return supported(asked) or language_from_accept(request.headers.get("Accept-Language"))


def serve_in_language(server: Flask) -> None:
    """Serve every request of `server` in `request_language()`."""

    @server.before_request
    def _enter() -> None:
        scope = narration_language(request_language())
        scope.__enter__()
        g.netviz_language = scope

    @server.after_request
    def _remember(response: Response) -> Response:
        if request.path == "/" and request.method == "GET":  # the page itself: its ?lang holds for its requests
            asked = supported(request.args.get("lang"))
            if asked:
                response.set_cookie(LANGUAGE_COOKIE, asked, samesite="Strict", httponly=True)
            else:
                response.delete_cookie(LANGUAGE_COOKIE, samesite="Strict", httponly=True)
        return response

    @server.teardown_request
    def _leave(_error: BaseException | None) -> None:
        scope = g.pop("netviz_language", None)
        if scope is not None:
            scope.__exit__(None, None, None)


def language_switch(language: str) -> html.Div:
    """中文 | English: links to this page in each language; netviz-language.js keeps the flow, the step and the
    presentation mode (without JavaScript the plain link still switches)."""
    links = [html.A(LANGUAGE_NAMES[code], href=f"?lang={code}", lang=HTML_LANG[code],
                    className="language current" if code == language else "language",
                    **{"data-lang": code, "aria-current": "true" if code == language else "false"})
             for code in LANGUAGES]
    return html.Div([html.Span(text("header.language"), className="label"), html.Div(links, className="languages")],
                    className="language-switch", **{"data-page-lang": HTML_LANG[language]})
