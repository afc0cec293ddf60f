"""`k8s-netviz lesson`: a lesson file checked as the player loads it, its steps printed with their stop hops."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_a_lesson_on_the_loaded_cluster_prints_its_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "tests/data/lessons/example.yaml", "--cluster", "flannel-vxlan", "--lang", "zh"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "my-cluster: 我们集群的 overlay 网络 (2 steps)",
        "  1. frontend-1 到 backend-2",
        "     pod-to-pod-cross-node: pod/frontend-1 → pod/backend-2:8080 on loaded",
        "     stop  9: host/node-1 flannel.1 vxlan/encapsulate",
        "     stop 14: host/node-2 flannel.1 vxlan/decapsulate",
        "  2. 经由 backend Service",
        "     pod-to-service: pod/frontend-1 → svc/backend:8080 on loaded",
        "     stop  5: host/node-1 cni0 bridge/receive",
        "     stop  6: host/node-1 kube-ipvs0 ipvs/dnat",
    ]


def test_without_a_cluster_the_loaded_steps_are_not_resolved(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "tests/data/lessons/example.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[2:4] == [
        "     pod-to-pod-cross-node: pod/frontend-1 → pod/backend-2:8080 on loaded",
        "     (not resolved: give the cluster with --cluster)",
    ]


def test_errors_are_located_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "tests/data/lessons/broken.yaml"]) == 1
    captured = capsys.readouterr()
    assert [line.split(": error: ")[0] for line in captured.out.splitlines()] == [
        "tests/data/lessons/broken.yaml:5:14", "tests/data/lessons/broken.yaml:9:70",
        "tests/data/lessons/broken.yaml:13:16", "tests/data/lessons/broken.yaml:16:18"]
    assert captured.err == "4 errors\n"


def test_a_built_in_lesson_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "seed-article"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "seed-article: Kubernetes networking, after the seed article (27 steps)"
    assert out[1:5] == ["  1. Nodes and pods",
                        "     pod-to-pod-same-node: pod/default/api-1 → pod/default/web-1:80 on seed-article",
                        "     stop  1: pod/default/api-1 api app/send",
                        "     stop  3: pod/default/api-1 eth0 interface/send"]
