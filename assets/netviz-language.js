/* k8s-netviz: the language switch (webapp/app/language.py). Switching reloads the page with `lang` changed and
 * every other URL parameter kept — the URL holds the state (flow, step, settings) — and carries presentation mode
 * over the reload. The page's <html lang> follows its language, so Chinese gets Simplified Chinese glyphs. */
(function () {
  "use strict";
  var PRESENTING = "netviz-presenting";

  if (window.sessionStorage && window.sessionStorage.getItem(PRESENTING) === "1") {
    window.sessionStorage.removeItem(PRESENTING);
    document.body.classList.add("presenting");
  }

  function markLanguage() {
    var el = document.querySelector("[data-page-lang]");
    if (!el) { return false; }
    document.documentElement.lang = el.getAttribute("data-page-lang");
    return true;
  }
  if (!markLanguage()) {
    var observer = new MutationObserver(function () { if (markLanguage()) { observer.disconnect(); } });
    observer.observe(document.body, { childList: true, subtree: true });
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest ? ev.target.closest("a[data-lang]") : null;
    if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }
    ev.preventDefault();
    var params = new URLSearchParams(window.location.search);
    params.set("lang", link.getAttribute("data-lang"));
    if (document.body.classList.contains("presenting") && window.sessionStorage) {
      window.sessionStorage.setItem(PRESENTING, "1");
    }
    window.location.assign(window.location.pathname + "?" + params.toString());
  });
})();
