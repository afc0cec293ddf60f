"""The per-worker limit on concurrent heavy loads (issue 14): two large uploads load at once, a third waits for
a slot and, when none comes free in time, gets a clear "busy, try again" error; small uploads never wait; and
the loader version is part of every cache key, so a cluster cached before the name rules is not served; the
page lists each problem with its code."""

from __future__ import annotations

import threading

import pytest

from webapp.app import limits, state
from webapp.app.cache import cache_key, loader_version, open_cache
from webapp.app.limits import BUSY_MESSAGE, HEAVY_LOAD_BYTES, LoadGate, ServerBusy

BIG = HEAVY_LOAD_BYTES


def test_a_heavy_load_waits_for_a_slot_then_is_refused_as_busy():
    gate = LoadGate(slots=2, wait=0.05)
    with gate.admit(BIG), gate.admit(BIG):
        with pytest.raises(ServerBusy, match=BUSY_MESSAGE):
            with gate.admit(BIG):
                pass
        with gate.admit(BIG - 1):  # a small upload passes at once
            pass
    with gate.admit(BIG):  # the slots are free again
        pass


def test_a_waiting_heavy_load_runs_when_a_slot_comes_free():
    gate = LoadGate(slots=1, wait=5.0)
    order = []
    holding = threading.Event()

    def first():
        with gate.admit(BIG):
            holding.set()
            order.append("first")
            threading.Event().wait(0.1)
        order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    with gate.admit(BIG):
        order.append("second")
    thread.join(5)
    assert order == ["first", "first done", "second"]


def test_an_upload_while_the_worker_is_busy_gets_the_busy_error(monkeypatch, tmp_path):
    gate = LoadGate(slots=1, wait=0.01)
    monkeypatch.setattr(state, "HEAVY_LOADS", gate)
    content = b"# " + b"x" * BIG + b"\nnodes: [{name: node-1}]\n"
    cache = open_cache(str(tmp_path))
    with gate.admit(BIG):
        outcome = state.load_upload_into(cache, [("big.yaml", content)], 10 * BIG)
    assert outcome.key is None
    assert [str(p) for p in outcome.problems] == [f"big.yaml:1:1: error: {BUSY_MESSAGE}"]
    assert limits.HEAVY_LOADS is not gate  # the worker's own gate was left alone


def test_the_loader_version_is_in_every_cache_key(monkeypatch):
    from webapp import loaders
    assert loader_version().split("/")[1] == str(loaders.LOADER_VERSION) == "5"
    before = cache_key([("c.yaml", b"nodes: []")])
    monkeypatch.setattr(loaders, "LOADER_VERSION", 6)
    assert loader_version().split("/")[1] == "6"
    assert cache_key([("c.yaml", b"nodes: []")]) != before


def test_the_page_lists_each_problem_with_its_code(tmp_path):
    from webapp.app.callbacks import _problem_line

    outcome = state.load_upload_into(open_cache(str(tmp_path)), [("e.yaml", b"---\n")], BIG)
    item = _problem_line(outcome.problems[0]).to_plotly_json()["props"]
    assert item["data-code"] == "E-FILE-NO-OBJECTS" and item["className"] == "problem error"
