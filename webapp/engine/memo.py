"""The engine's per-cluster memo: values derived from one Cluster object (tables, graph, rulesets), built once.

The memo lives on the cluster itself, so it goes when the cluster goes (even when a memoised value, like the
topology, points back at its cluster), and it is never pickled with it. At most `MAX_CLUSTERS` clusters keep
their memo: the least recently used one forgets its values (they are rebuilt on next use).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, TypeVar

from webapp.model import Cluster

_T = TypeVar("_T")
MAX_CLUSTERS = 32
"""Clusters whose derived values are kept at once (a what-if redraw uses the loaded cluster and a variant)."""

_ATTRIBUTE = "_engine_memo"
_LOCK = threading.RLock()  # builds nest (a ruleset needs the node's tables), so the lock is re-entrant
_RECENT: OrderedDict[int, weakref.ref[Cluster]] = OrderedDict()
"""Clusters with a memo, least recently used first (by id; an entry goes when its cluster is collected)."""
_last_used: list[int] = [0]


class _Memo(dict):
    """One cluster's memoised values; pickles and copies as an empty memo."""

    def __reduce__(self):
        return (_Memo, ())


def cluster_cached(cluster: Cluster, key: str, build: Callable[[], _T]) -> _T:
    """Memoise `build()` under `key` for this Cluster object (by identity)."""
    memo = cluster.__dict__.get(_ATTRIBUTE)
    if memo is not None:
        try:
            value = memo[key]
        except KeyError:
            pass
        else:
            if _last_used[0] != id(cluster):
                _touch(cluster)
            return value  # type: ignore[no-any-return]
    with _LOCK:  # the web app's threads: build each value once
        memo = _touch(cluster)
        if key in memo:
            return memo[key]  # type: ignore[no-any-return]
        value = build()
        memo = _touch(cluster)  # a nested build may have evicted and re-registered this cluster
        memo[key] = value
        return value


def _touch(cluster: Cluster) -> _Memo:
    """This cluster's memo, marked most recently used; evicts the least recently used beyond MAX_CLUSTERS."""
    with _LOCK:
        memo = cluster.__dict__.get(_ATTRIBUTE)
        if memo is None:
            memo = cluster.__dict__.setdefault(_ATTRIBUTE, _Memo())
        cid = id(cluster)
        if cid in _RECENT:
            _RECENT.move_to_end(cid)
        else:
            _RECENT[cid] = weakref.ref(cluster, lambda ref, cid=cid: _collected(cid, ref))
            while len(_RECENT) > MAX_CLUSTERS:
                _, oldest = _RECENT.popitem(last=False)
                evicted = oldest()
                if evicted is not None:
                    evicted.__dict__.get(_ATTRIBUTE, {}).clear()
        _last_used[0] = cid
        return memo


def _collected(cid: int, ref: weakref.ref[Cluster]) -> None:
    with _LOCK:
        if _RECENT.get(cid) is ref:
            del _RECENT[cid]
        if _last_used[0] == cid:
            _last_used[0] = 0


def drop_cached(cluster: Cluster) -> None:
    """Forget everything memoised for this cluster (for benchmarks that measure a cold build)."""
    with _LOCK:
        cluster.__dict__.get(_ATTRIBUTE, {}).clear()


def memo_entries() -> int:
    """How many values the memo holds, over every cluster that has one."""
    with _LOCK:
        clusters = [ref() for ref in _RECENT.values()]
    return sum(len(c.__dict__.get(_ATTRIBUTE, ())) for c in clusters if c is not None)


def memo_clusters() -> int:
    """How many clusters currently have a memo."""
    with _LOCK:
        return len(_RECENT)
