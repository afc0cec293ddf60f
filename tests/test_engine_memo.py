"""The engine's per-cluster memo (webapp.engine.memo): built once per Cluster object, gone with its cluster,
bounded in clusters, safe across threads, never pickled."""

from __future__ import annotations

import gc
import pickle
import threading
import weakref
from dataclasses import replace

import pytest

from factories import service_cluster, two_node_cluster
from webapp.engine import memo
from webapp.engine.flows import trace_flow
from webapp.engine.memo import MAX_CLUSTERS, cluster_cached, drop_cached, memo_clusters, memo_entries


@pytest.fixture(autouse=True)
def collected():
    gc.collect()
    yield
    gc.collect()


def test_a_value_is_built_once_per_cluster_object():
    cluster = two_node_cluster()
    calls = []
    assert cluster_cached(cluster, "k", lambda: calls.append(1) or "v") == "v"
    assert cluster_cached(cluster, "k", lambda: calls.append(2) or "w") == "v"
    assert calls == [1]
    twin = replace(cluster)  # equal, but another object: its own memo
    assert cluster_cached(twin, "k", lambda: "w") == "w"
    drop_cached(cluster)
    assert cluster_cached(cluster, "k", lambda: "x") == "x"


def test_the_cluster_is_weak_referenceable_and_its_memo_goes_with_it():
    cluster = service_cluster()
    ref = weakref.ref(cluster)
    before = memo_entries()
    trace = trace_flow(cluster, "pod/client", "svc/web")  # tables, topology (which points back), rulesets
    assert str(trace.disposition) == "delivered"
    assert memo_entries() - before >= 5
    del cluster, trace
    gc.collect()
    assert ref() is None
    assert memo_entries() == before


def test_loading_200_clusters_keeps_the_memo_bounded():
    baseline = memo_clusters()
    alive = []
    for _ in range(200):
        cluster = service_cluster()
        trace_flow(cluster, "pod/client", "svc/web")
        alive.append(cluster)  # every cluster stays alive: only the LRU bound keeps the memo small
        assert memo_clusters() <= MAX_CLUSTERS
    per_cluster = len(alive[-1].__dict__[memo._ATTRIBUTE])
    assert memo_entries() <= MAX_CLUSTERS * per_cluster
    assert alive[0].__dict__[memo._ATTRIBUTE] == {}  # the least recently used forgot its values
    assert trace_flow(alive[0], "pod/client", "svc/web").disposition == trace_flow(
        alive[-1], "pod/client", "svc/web").disposition  # and builds them again on use
    gone = [weakref.ref(c) for c in alive]
    del alive, cluster
    gc.collect()
    assert [r for r in gone if r() is not None] == []
    # the LRU may also have evicted clusters other tests left in the memo, never added any
    assert memo_clusters() <= baseline


def test_dropped_clusters_free_their_memo():
    baseline = memo_entries(), memo_clusters()
    for _ in range(200):
        trace_flow(two_node_cluster(), "pod/client", "pod/web-b:80")
    gc.collect()
    assert (memo_entries(), memo_clusters()) == baseline


def test_threads_build_a_value_once():
    cluster = two_node_cluster()
    calls = []
    barrier = threading.Barrier(8)

    def build():
        calls.append(1)
        return object()

    def worker(out):
        barrier.wait()
        out.append(cluster_cached(cluster, "shared", build))

    results: list[object] = []
    threads = [threading.Thread(target=worker, args=(results,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_a_pickled_cluster_carries_no_memo():
    cluster = service_cluster()
    trace_flow(cluster, "pod/client", "svc/web")
    copy = pickle.loads(pickle.dumps(cluster))
    assert copy == cluster
    assert copy.__dict__.get(memo._ATTRIBUTE, {}) == {}
