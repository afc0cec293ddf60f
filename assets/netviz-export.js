/* k8s-netviz: the trace as a JSON file, for the page's "Trace JSON" button (a dcc.Download's data, no server round
 * trip) and for the standalone lesson player (a Blob). `window.dash_clientside.netvizExport`. */
(function () {
  "use strict";

  /* `k8s-netviz-<flow type>-trace.json` and the trace as `k8s-netviz trace --json` prints it (2-space indent). */
  function traceFile(trace) {
    var type = String((trace && trace.flow && trace.flow.type) || "flow").replace(/[^A-Za-z0-9-]+/g, "-");
    return { filename: "k8s-netviz-" + type + "-trace.json", content: JSON.stringify(trace, null, 2) + "\n" };
  }

  /* Save a file in the browser (works from file:// too: a Blob URL is no network request). */
  function saveFile(file, type) {
    var url = URL.createObjectURL(new Blob([file.content], { type: type }));
    var a = document.createElement("a");
    a.href = url;
    a.download = file.filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  var ns = (window.dash_clientside = window.dash_clientside || {});
  ns.netvizExport = {
    /* The PNG or SVG button (the one whose count went up): the picture asked for, with the page's presentation
       mode now, for the server callback that makes it (webapp/app/export_view.py). */
    imageRequest: function (png, svg, previous) {
      if (!png && !svg) { return ns.no_update; }
      var before = previous || {};
      return { format: (svg || 0) > (before.svg || 0) ? "svg" : "png", png: png || 0, svg: svg || 0,
               present: document.body.classList.contains("presenting") };
    },
    traceJson: function (clicks, pb) {
      if (!clicks || !pb || !pb.trace) { return ns.no_update; }
      var file = traceFile(pb.trace);
      return { filename: file.filename, content: file.content, type: "application/json", base64: false };
    },
    traceFile: traceFile,
    saveFile: saveFile
  };
})();
