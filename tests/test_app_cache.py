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


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway Redis server (Debian's redis-server, installed by scripts/install-test-deps.sh) on a free port."""
    import shutil
    import socket
    import subprocess
    import time

    pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/install-test-deps.sh installs it)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_the_redis_backend_shares_immutable_clusters_between_processes(redis_url):
    """`serve --cache redis://…`: what one process put, another reads; the first writer wins; entries expire."""
    from webapp.app.cache import RedisBackend

    cache = open_cache(redis_url)
    assert isinstance(cache.backend, RedisBackend)
    cluster = two_node_cluster()
    key = cache_key([("c.yaml", b"redis")], version="t")
    assert cache.get(key) is None
    cache.put(key, cluster)
    queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_read_in_child, args=(redis_url, key, queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == [p.key for p in cluster.pods]
    other = open_cache(redis_url)
    other.put(key, dataclasses.replace(cluster, name="impostor"))
    other.backend.add(key, b"not a pickle")  # SET NX never overwrites
    assert open_cache(redis_url).get(key).name == cluster.name
    ttl = other.backend._client.ttl(f"k8s-netviz:{key}")
    assert 0 < ttl <= 7 * 24 * 3600
    assert open_cache(redis_url).get("0" * 64) is None
