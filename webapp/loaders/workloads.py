"""Workload controllers expanded into the pods they would create, named the way their controllers name them.

Naming facts (kubernetes/kubernetes, pkg/controller and staging/src/k8s.io/apimachinery/pkg/util/rand):
- Deployment → ReplicaSet `<deployment>-<pod-template-hash>`; the hash is the FNV-32a of the pod template,
  printed in decimal and mapped character by character onto the "safe" alphabet (`rand.SafeEncodeString`);
- ReplicaSet and DaemonSet pods use generateName `<owner>-` + 5 characters of the same alphabet
  (`rand.String(5)`; random there, derived from a hash here so that a load is deterministic);
- StatefulSet pods are `<statefulset>-<ordinal>`, ordinals from 0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from webapp.loaders.drafts import Origin, PodDraft
from webapp.model import Container, ContainerPort, Labels, Protocol

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Kubernetes' alphabet for generated names: no vowels, no confusable characters."""


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """`rand.SafeEncodeString`: each character mapped onto SAFE_ALPHABET by its code point."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def pod_template_hash(template: Any) -> str:
    """The pod-template-hash label of a Deployment's ReplicaSet (FNV-32a of the template, safe-encoded)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str).encode()
    return safe_encode(str(fnv32a(canonical)))


def generated_suffix(seed: str, length: int = 5) -> str:
    """Five characters of SAFE_ALPHABET, as generateName appends — chosen by a hash of `seed`, not at random."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


@dataclass(frozen=True)
class PodTemplate:
    """What a controller stamps into each pod: labels, containers, host networking, a pinned node."""

    labels: Labels
    containers: tuple[Container, ...]
    host_network: bool = False
    node: str | None = None
    ready: bool = True
    raw: Any = None
    """The template as read, hashed into the pod-template-hash."""


@dataclass
class Workload:
    kind: str
    namespace: str
    name: str
    origin: Origin
    template: PodTemplate
    replicas: int = 1

    def makes_dns_pods(self) -> bool:
        return self.namespace == "kube-system" and dict(self.template.labels).get("k8s-app") == "kube-dns"

    def expand(self, node_names: list[str]) -> list[PodDraft]:
        """The pods this controller would create (DaemonSets: one per node; others unscheduled)."""
        if self.kind == "Deployment":
            template_hash = pod_template_hash(self.template.raw)
            replica_set = f"{self.name}-{template_hash}"
            extra = (("pod-template-hash", template_hash),)
            return [
                self._pod(f"{replica_set}-{generated_suffix(f'{self.namespace}/{replica_set}/{i}')}",
                          f"ReplicaSet/{replica_set}", extra)
                for i in range(self.replicas)
            ]
        if self.kind == "ReplicaSet":
            return [
                self._pod(f"{self.name}-{generated_suffix(f'{self.namespace}/{self.name}/{i}')}",
                          f"ReplicaSet/{self.name}")
                for i in range(self.replicas)
            ]
        if self.kind == "StatefulSet":
            return [
                self._pod(f"{self.name}-{i}", f"StatefulSet/{self.name}",
                          (("statefulset.kubernetes.io/pod-name", f"{self.name}-{i}"),))
                for i in range(self.replicas)
            ]
        if self.kind == "DaemonSet":
            return [
                self._pod(f"{self.name}-{generated_suffix(f'{self.namespace}/{self.name}/{node}')}",
                          f"DaemonSet/{self.name}", node=node)
                for node in node_names
            ]
        raise ValueError(f"not a workload kind: {self.kind}")

    def _pod(self, name: str, owner: str, extra: Labels = (), node: str | None = None) -> PodDraft:
        labels = tuple(sorted(dict(self.template.labels + extra).items()))
        return PodDraft(
            namespace=self.namespace,
            name=name,
            origin=self.origin,
            containers=self.template.containers,
            node=node or self.template.node,
            labels=labels,
            ready=self.template.ready,
            host_network=self.template.host_network,
            owner=owner,
            ip_at=(),
            node_at=("spec", "template", "spec", "nodeName"),
        )


def coredns_pods(origin: Origin, ports: tuple[tuple[str, int, Protocol], ...]) -> list[PodDraft]:
    """The two CoreDNS pods kubeadm's `coredns` Deployment runs in kube-system."""
    container = Container(
        "coredns", "registry.k8s.io/coredns/coredns",
        tuple(ContainerPort(port, proto, name) for name, port, proto in ports),
    )
    labels = (("k8s-app", "kube-dns"),)
    raw = {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": container.name}]}}
    workload = Workload("Deployment", "kube-system", "coredns", origin, PodTemplate(labels, (container,), raw=raw),
                        replicas=2)
    return workload.expand([])
