"""The page's view settings — the what-if dropdowns (kube-proxy mode, overlay, traffic policy, pods down, network
plugin, policies off) — as one group of callback dependencies, and the `ViewSettings` their values make. Every
callback that follows or reads them names the dropdowns through here."""

from __future__ import annotations

from typing import Any, Mapping

from dash import Input, State

from webapp.app.layout import Id
from webapp.variants import ViewSettings

DROPDOWNS: dict[str, Id] = {"mode": Id.MODE, "overlay": Id.OVERLAY, "policy": Id.POLICY, "down": Id.DOWN_PODS,
                            "plugin": Id.PLUGIN, "policies_off": Id.POLICIES_OFF}
"""`ViewSettings.parse`'s parameter → the dropdown whose value it takes."""

STATES: dict[str, State] = {name: State(id_, "value") for name, id_ in DROPDOWNS.items()}
"""Every setting, read when the callback runs (a button's callback)."""


def inputs(*names: str) -> dict[str, Input]:
    """The settings `names` (every one when none is named) as Inputs: the callback runs again when one changes."""
    return {name: Input(DROPDOWNS[name], "value") for name in names or DROPDOWNS}


def of(values: Mapping[str, Any]) -> ViewSettings:
    """The group's values (`{"mode": …, …}`) as ViewSettings; a setting left out keeps the cluster's own value."""
    return ViewSettings.parse(**values)


__all__ = ["DROPDOWNS", "STATES", "inputs", "of"]
