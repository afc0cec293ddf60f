"""Reading the page the way a person sees it: the packet marker's position, the current hop, the cluster."""

from __future__ import annotations

MARKER_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  if (!gd || !gd.data) return null;
  const index = gd.data.map(t => t.name).lastIndexOf('packet');
  const group = gd.querySelector('.scatterlayer').children[index];
  const point = group && group.querySelector('path.point');
  if (!point) return null;
  const box = point.getBoundingClientRect();
  return [Math.round(box.x + box.width / 2), Math.round(box.y + box.height / 2)];
}"""


def wait_ready(page, hop: str = "q0") -> None:
    """Until the diagram is drawn and the player sits on `hop`."""
    page.wait_for_selector(f'.hop-panel.current[data-hop="{hop}"]', state="attached")
    page.wait_for_function(MARKER_JS)


def marker(page) -> tuple[int, int]:
    return tuple(page.evaluate(MARKER_JS))


def current_hop(page) -> str:
    return page.get_attribute(".hop-panel.current", "data-hop")


def pod_targets(page) -> list[str]:
    return page.evaluate("""() => {
      const gd = document.querySelector('#diagram .js-plotly-plot');
      const t = gd.data.find(t => t.name === 'targets');
      return t ? t.customdata.filter(r => r.startsWith('pod:')).sort() : [];
    }""")


def click_target(page, ref: str) -> None:
    """Click the diagram element whose customdata is `ref` (`pod:ns/name`, `node:name` …) where it is drawn."""
    x, y = page.evaluate("""ref => {
      const gd = document.querySelector('#diagram .js-plotly-plot');
      const t = gd.data.find(t => t.name === 'targets');
      const i = t.customdata.indexOf(ref);
      const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
      return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])];
    }""", ref)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


PACKET_STYLE_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const t = gd.data[gd.data.map(t => t.name).lastIndexOf('packet')];
  return {symbol: t.marker.symbol, color: t.marker.color, text: t.text[0], position: t.textposition};
}"""


def label_size(page, label: str) -> float:
    """The drawn font size of the diagram's text trace that holds `label`."""
    return page.evaluate("""label => {
      const gd = document.querySelector('#diagram .js-plotly-plot');
      return gd.data.find(t => t.mode === 'text' && t.text.includes(label)).textfont.size;
    }""", label)


PIXELS_PER_UNIT_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot'), f = gd._fullLayout;
  return Math.min(f._size.w / Math.abs(f.xaxis.range[1] - f.xaxis.range[0]),
                  f._size.h / Math.abs(f.yaxis.range[1] - f.yaxis.range[0]));
}"""


DRAWN_LABEL_JS = """() => {
  const gd = document.querySelector('#diagram .js-plotly-plot');
  const group = gd.querySelector('.scatterlayer').children[gd.data.map(t => t.name).lastIndexOf('packet')];
  const text = group && group.querySelector('.textpoint text');
  return text ? text.textContent : null;
}"""
