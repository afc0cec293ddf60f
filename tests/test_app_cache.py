"""The content-addressed cluster cache: deterministic keys, immutable values, shared across processes."""

import dataclasses
import multiprocessing

import pytest

from factories import two_node_cluster
from webapp.app.cache import ClusterCache, DiskBackend, cache_key, is_key, open_cache


def test_key_is_sha256_of_names_and_bytes_and_version():
    key = cache_key([("a.yaml", b"kind: Pod")], version="v1")
    assert is_key(key) and len(key) == 64
    assert key == cache_key([("a.yaml", b"kind: Pod")], version="v1")
    assert key != cache_key([("b.yaml", b"kind: Pod")], version="v1")
    assert key != cache_key([("a.yaml", b"kind: Pod")], version="v2")
    # Length prefixes: moving bytes between the name and the content changes the key.
    assert cache_key([("ab", b"c")], version="v") != cache_key([("a", b"bc")], version="v")


def test_put_then_get_from_another_instance_on_the_same_folder(tmp_path):
    cluster = two_node_cluster()
    key = cache_key([("c.yaml", b"x")], version="t")
    ClusterCache(DiskBackend(tmp_path)).put(key, cluster)
    again = ClusterCache(DiskBackend(tmp_path)).get(key)
    assert again == cluster and again is not cluster


def _read_in_child(folder: str, key: str, queue) -> None:
    cluster = open_cache(folder).get(key)
    queue.put(None if cluster is None else [p.key for p in cluster.pods])


def test_another_process_reads_the_same_cluster(tmp_path):
    cluster = two_node_cluster()
    key = cache_key([("c.yaml", b"y")], version="t")
    open_cache(str(tmp_path)).put(key, cluster)
    queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_read_in_child, args=(str(tmp_path), key, queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == [p.key for p in cluster.pods]


def test_values_are_immutable_first_writer_wins(tmp_path):
    cache = open_cache(str(tmp_path))
    key = cache_key([("c.yaml", b"z")], version="t")
    first = two_node_cluster()
    cache.put(key, first)
    impostor = dataclasses.replace(first, name="impostor")
    other = ClusterCache(DiskBackend(tmp_path))
    other.put(key, impostor)
    other.backend.add(key, b"not a pickle")  # add never overwrites
    assert other.get(key).name == first.name == ClusterCache(DiskBackend(tmp_path)).get(key).name


def test_unknown_or_malformed_keys_give_none(tmp_path):
    cache = open_cache(str(tmp_path))
    assert cache.get("0" * 64) is None
    assert cache.get("../../etc/passwd") is None
    assert cache.get(None) is None
    with pytest.raises(ValueError, match="not a cache key"):
        cache.put("nope", two_node_cluster())
