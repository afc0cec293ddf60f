"""The content-addressed, immutable cache of loaded clusters, shared by every worker process.

The key is the SHA-256 of the input files (names and bytes) and the loader version, so the same input always
maps to the same key and a key can never be made to point at another cluster. Values are written once and
never changed. On disk by default (diskcache: SQLite + files, safe across processes); Redis when the app runs
on several machines (`redis://…`). Each process also keeps the last clusters it unpickled in memory.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, Sequence

from webapp.model import Cluster

CACHE_FORMAT = 1
KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MEMORY_ITEMS = 8
"""Unpickled clusters kept per process (a 30,000-pod cluster is ~100 MB in memory)."""


def loader_version() -> str:
    """A version string that changes whenever the loader's output could change."""
    try:
        from webapp import loaders
        version = getattr(loaders, "LOADER_VERSION", None)
    except ImportError:  # loaders not installed in this build
        version = None
    from importlib.metadata import PackageNotFoundError, version as dist_version
    try:
        package = dist_version("k8s-netviz")
    except PackageNotFoundError:
        package = "0"
    return f"{package}/{version or 0}/{CACHE_FORMAT}"


def cache_key(sources: Sequence[tuple[str, bytes]], version: str | None = None) -> str:
    """SHA-256 over the loader version and each (file name, bytes), length-prefixed so no two inputs collide."""
    digest = hashlib.sha256()
    for part in [(version or loader_version()).encode()] + [
        piece for name, data in sources for piece in (name.encode(), data)
    ]:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def is_key(text: object) -> bool:
    return isinstance(text, str) and bool(KEY_PATTERN.match(text))


class Backend(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def add(self, key: str, value: bytes) -> None: ...


class DiskBackend:
    """diskcache on a local folder: every worker process on this machine shares it."""

    def __init__(self, directory: str | Path, size_limit: int = 4 << 30):
        import diskcache

        self.directory = str(directory)
        self._cache = diskcache.Cache(self.directory, size_limit=size_limit, eviction_policy="least-recently-used")

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key)
        return bytes(value) if value is not None else None

    def add(self, key: str, value: bytes) -> None:
        self._cache.add(key, value)  # add never overwrites: first writer wins, values are immutable


class RedisBackend:
    """Redis, for several machines behind one load balancer. Entries expire after `ttl` seconds unused."""

    def __init__(self, url: str, ttl: int = 7 * 24 * 3600):
        import redis

        self.url = url
        self.ttl = ttl
        self._client = redis.Redis.from_url(url)

    def get(self, key: str) -> bytes | None:
        value = self._client.get(f"k8s-netviz:{key}")
        if value is not None:
            self._client.expire(f"k8s-netviz:{key}", self.ttl)
        return value

    def add(self, key: str, value: bytes) -> None:
        self._client.set(f"k8s-netviz:{key}", value, nx=True, ex=self.ttl)


class ClusterCache:
    """Clusters by content key: `put` once, `get` from any process."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._memory: OrderedDict[str, Cluster] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, cluster: Cluster) -> str:
        if not is_key(key):
            raise ValueError(f"not a cache key: {key!r}")
        if self.backend.get(key) is None:
            self.backend.add(key, pickle.dumps(cluster, protocol=pickle.HIGHEST_PROTOCOL))
            self._remember(key, cluster)
        return key

    def get(self, key: object) -> Cluster | None:
        """The cluster stored under `key`, or None (unknown, expired, or not a key at all)."""
        if not is_key(key):
            return None
        with self._lock:
            cluster = self._memory.get(key)  # type: ignore[arg-type]
            if cluster is not None:
                self._memory.move_to_end(key)  # type: ignore[arg-type]
                return cluster
        data = self.backend.get(key)  # type: ignore[arg-type]
        if data is None:
            return None
        cluster = pickle.loads(data)  # our own pickles only: keys are hashes we computed, values we wrote
        cluster.build_indexes()  # as a load does: the lookup tables are not pickled
        self._remember(key, cluster)  # type: ignore[arg-type]
        return cluster

    def _remember(self, key: str, cluster: Cluster) -> None:
        with self._lock:
            self._memory[key] = cluster
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY_ITEMS:
                self._memory.popitem(last=False)


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "k8s-netviz" / "clusters"


def open_cache(spec: str | Path | None = None) -> ClusterCache:
    """A cache from `serve --cache`: a folder (diskcache), `redis://…` / `rediss://…`, or None for the default."""
    text = str(spec) if spec else ""
    if text.startswith(("redis://", "rediss://", "unix://")):
        return ClusterCache(RedisBackend(text))
    return ClusterCache(DiskBackend(text or default_cache_dir()))
