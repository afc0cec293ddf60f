"""Deterministic dumps shaped like `kubectl get nodes,pods,services,endpointslices -A -o yaml|json`.

The layout of a generated cluster (N nodes, P pods per node, S services per node):

- Nodes `worker-0000` … with InternalIP 10.0.0.0/16 (from 10.0.0.10) and podCIDR 10.244.0.0/24, 10.244.1.0/24 …
  (one /24 per node carved from 10.244.0.0/14 — flannel's 10.244.0.0/16 default only holds 256 nodes; beyond
  1,024 nodes from 10.128.0.0/11, so Kubernetes' 5,000-node limit fits).
  Every 100th node (index 99, 199 …) is NotReady.
- Pods: slot 0 of every node is the DaemonSet pod `kube-system/kube-proxy-…` (hostNetwork, podIP = node IP);
  the other P-1 slots are replicas of N*S Deployments spread over consecutive nodes, with IPs handed out by
  host-local IPAM order inside the node's podCIDR (.2, .3, …). Deployment 0 is `kube-system/coredns`.
  Pods on NotReady nodes and every 97th application pod are not ready.
- Services: one per Deployment (N*S in all), selecting its `app` label. Service 0 is `kube-system/kube-dns`
  at 10.96.0.10 (53/UDP, 53/TCP, 9153/TCP); every 10th other service is a NodePort. ClusterIPs are unique in
  10.96.0.0/12, nodePorts unique in 30000-32767.
- EndpointSlices: one per Service, listing its pods with `conditions`, `nodeName` and `targetRef`.

Items are ordered as kubectl prints them (kind, then namespace, then name) with keys sorted, as kubectl's
YAML and JSON printers do. The same arguments always give byte-identical output; the seed changes uids,
name hashes, clusterIPs and nodePorts.

Size: 1,000 nodes give 37,000 objects, 35 MB of YAML and 32 MB of JSON (one item per line, see `dump_json`).
That is more than the 21 MB the scale issue quotes for such a dump, because every object carries the fields
listed above (uid, resourceVersion, ownerReferences, podIPs, targetRef …); kubectl's own output is bigger
still (containerStatuses, managedFields are left out here).

CLI: `python benchmarks/generate_cluster.py --nodes 1000 --format yaml --out dump.yaml`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import re
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import yaml

SIZES = (10, 100, 1000)
"""Node counts the benchmarks use."""

POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/14")
BIG_POD_NETWORK = ipaddress.IPv4Network("10.128.0.0/11")
"""The pod network of a dump of more than 1,024 nodes (up to 8,192 /24s: Kubernetes' 5,000-node limit fits)."""
NODE_NETWORK = ipaddress.IPv4Network("10.0.0.0/16")
SERVICE_NETWORK = ipaddress.IPv4Network("10.96.0.0/12")
CLUSTER_DNS_IP = "10.96.0.10"
NODE_PORT_RANGE = (30000, 32767)
NODE_IP_OFFSET = 10
APP_NAMESPACES = 20
NOT_READY_NODE_EVERY = 100
NOT_READY_POD_EVERY = 97
NODE_PORT_EVERY = 10
KUBERNETES_VERSION = "v1.30.4"

# Kubernetes' rand.SafeEncodeString alphabet: generated name suffixes and pod-template hashes use it.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_EPOCH = datetime(2026, 3, 2, 8, 0, 0, tzinfo=timezone.utc)


class _Ids:
    """Deterministic uids, resourceVersions, timestamps and name suffixes from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.resource_version = 1000 + seed % 1000

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def rv(self) -> str:
        self.resource_version += 1 + self.rng.randrange(7)
        return str(self.resource_version)

    def suffix(self, length: int) -> str:
        return "".join(self.rng.choice(_NAME_ALPHABET) for _ in range(length))

    def timestamp(self, max_minutes: int = 60 * 24 * 30) -> str:
        moment = _EPOCH + timedelta(seconds=self.rng.randrange(max_minutes * 60))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def mac(self) -> str:
        octets = [0x0A] + [self.rng.randrange(256) for _ in range(5)]
        return ":".join(f"{o:02x}" for o in octets)


def node_name(index: int) -> str:
    return f"worker-{index:04d}"


def node_ip(index: int) -> str:
    return str(NODE_NETWORK.network_address + NODE_IP_OFFSET + index)


def pod_network(nodes: int) -> ipaddress.IPv4Network:
    """10.244.0.0/14 up to 1,024 nodes; 10.128.0.0/11 beyond."""
    return POD_NETWORK if nodes <= POD_NETWORK.num_addresses >> 8 else BIG_POD_NETWORK


def node_pod_cidr(index: int, nodes: int = 0) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network((int(pod_network(nodes).network_address) + (index << 8), 24))


def _deployment_name(d: int) -> str:
    return "coredns" if d == 0 else f"app-{d:05d}"


def _deployment_namespace(d: int) -> str:
    return "kube-system" if d == 0 else f"team-{d % APP_NAMESPACES:02d}"


def _node(index: int, ids: _Ids, nodes: int = 0) -> dict[str, Any]:
    name, ip, cidr = node_name(index), node_ip(index), str(node_pod_cidr(index, nodes))
    ready = index % NOT_READY_NODE_EVERY != NOT_READY_NODE_EVERY - 1
    stamp = ids.timestamp()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "flannel.alpha.coreos.com/backend-data": json.dumps(
                    {"VNI": 1, "VtepMAC": ids.mac()}, separators=(",", ":")
                ),
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/public-ip": ip,
            },
            "creationTimestamp": stamp,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}",
            },
            "name": name,
            "resourceVersion": ids.rv(),
            "uid": ids.uid(),
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [{"address": ip, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "conditions": [
                {
                    "lastHeartbeatTime": "2026-04-01T12:00:00Z",
                    "lastTransitionTime": stamp,
                    "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
                    "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                    "status": "True" if ready else "Unknown",
                    "type": "Ready",
                },
            ],
            "nodeInfo": {
                "containerRuntimeVersion": "containerd://1.7.20",
                "kubeletVersion": KUBERNETES_VERSION,
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    }


def _pod(
    *,
    namespace: str,
    name: str,
    labels: dict[str, str],
    owner: tuple[str, str, str],
    node: int,
    pod_ip: str,
    host_network: bool,
    containers: list[dict[str, Any]],
    ready: bool,
    ids: _Ids,
) -> dict[str, Any]:
    stamp = ids.timestamp()
    owner_kind, owner_name, owner_uid = owner
    spec: dict[str, Any] = {"containers": containers, "nodeName": node_name(node)}
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": stamp,
            "labels": labels,
            "name": name,
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": owner_kind,
                    "name": owner_name,
                    "uid": owner_uid,
                }
            ],
            "resourceVersion": ids.rv(),
            "uid": ids.uid(),
        },
        "spec": spec,
        "status": {
            "conditions": [{"status": "True" if ready else "False", "type": "Ready"}],
            "hostIP": node_ip(node),
            "phase": "Running",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
        },
    }


def _app_containers(d: int) -> list[dict[str, Any]]:
    """The containers of Deployment d: coredns's real ports, else an HTTP server (and a sidecar on every 5th)."""
    if d == 0:
        return [
            {
                "args": ["-conf", "/etc/coredns/Corefile"],
                "image": "registry.k8s.io/coredns/coredns:v1.11.1",
                "name": "coredns",
                "ports": [
                    {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                    {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                    {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                ],
            }
        ]
    containers = [
        {
            "image": f"example.com/{_deployment_name(d)}:1.{d % 7}",
            "name": "server",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        }
    ]
    if d % 10 == 5:
        containers.append(
            {
                "image": "example.com/metrics:0.9",
                "name": "metrics",
                "ports": [{"containerPort": 9090, "name": "metrics", "protocol": "TCP"}],
            }
        )
    return containers


def _service_ports(d: int, node_port: int | None) -> list[dict[str, Any]]:
    if d == 0:
        return [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
        ]
    port: dict[str, Any] = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http" if d % 2 else 8080}
    if node_port is not None:
        port["nodePort"] = node_port
    return [port]


def _slice_ports(d: int) -> list[dict[str, Any]]:
    if d == 0:
        return [
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "metrics", "port": 9153, "protocol": "TCP"},
        ]
    return [{"name": "http", "port": 8080, "protocol": "TCP"}]


def _placements(nodes: int, pods_per_node: int, services_per_node: int) -> Iterator[tuple[int, int, int]]:
    """(node, slot, deployment) for every application pod; slot 0 of each node is kube-proxy.

    Replica r of Deployment d runs on node (d // S + r) mod N, so each node holds P-1 application pods and a
    Deployment's replicas sit on consecutive nodes (cross-node backends everywhere).
    """
    per_node = max(services_per_node, 1)
    deployments = nodes * per_node
    for n in range(nodes):
        for slot in range(1, pods_per_node):
            j = slot - 1
            replica, within = divmod(j, per_node)
            d = ((n - replica) % nodes) * per_node + within
            yield n, slot, d % deployments


def generate_dump(nodes: int, pods_per_node: int = 30, services_per_node: int = 3, seed: int = 0,
                  not_ready_pod_every: int = NOT_READY_POD_EVERY) -> dict:
    """A `kind: List` of Nodes, Pods, Services and EndpointSlices, as kubectl prints them (every
    `not_ready_pod_every`-th application pod not ready)."""
    if nodes < 1 or nodes > BIG_POD_NETWORK.num_addresses >> 8:
        raise ValueError(f"nodes must be between 1 and {BIG_POD_NETWORK.num_addresses >> 8}, got {nodes}")
    if not 1 <= pods_per_node <= 254:
        raise ValueError(f"pods_per_node must be between 1 and 254 (a /24 podCIDR), got {pods_per_node}")
    if services_per_node < 0:
        raise ValueError(f"services_per_node must be >= 0, got {services_per_node}")
    ids = _Ids(seed)
    n_services = nodes * services_per_node

    node_items = [_node(n, ids, nodes) for n in range(nodes)]

    # Controllers: one ReplicaSet per Deployment (uid + pod-template hash), one DaemonSet for kube-proxy.
    n_deployments = nodes * max(services_per_node, 1)
    rs_hash = [ids.suffix(10 if d % 3 else 9) for d in range(n_deployments)]
    rs_uid = [ids.uid() for _ in range(n_deployments)]
    ds_uid, ds_hash = ids.uid(), ids.suffix(10)

    pod_items: list[dict[str, Any]] = []
    backends: dict[int, list[tuple[str, str, str, int, bool]]] = {}  # d -> (pod name, uid, ip, node, ready)
    used_names: set[str] = set()

    def unique_name(prefix: str) -> str:
        while True:
            candidate = prefix + ids.suffix(5)
            if candidate not in used_names:
                used_names.add(candidate)
                return candidate

    for n in range(nodes):
        node_ready = n % NOT_READY_NODE_EVERY != NOT_READY_NODE_EVERY - 1
        pod_items.append(
            _pod(
                namespace="kube-system",
                name=unique_name("kube-proxy-"),
                labels={"controller-revision-hash": ds_hash, "k8s-app": "kube-proxy", "pod-template-generation": "1"},
                owner=("DaemonSet", "kube-proxy", ds_uid),
                node=n,
                pod_ip=node_ip(n),
                host_network=True,
                containers=[
                    {
                        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"],
                        "image": f"registry.k8s.io/kube-proxy:{KUBERNETES_VERSION}",
                        "name": "kube-proxy",
                    }
                ],
                ready=node_ready,
                ids=ids,
            )
        )
    for index, (n, slot, d) in enumerate(_placements(nodes, pods_per_node, services_per_node)):
        node_ready = n % NOT_READY_NODE_EVERY != NOT_READY_NODE_EVERY - 1
        ready = node_ready and index % not_ready_pod_every != not_ready_pod_every - 1
        name = _deployment_name(d)
        pod_name = unique_name(f"{name}-{rs_hash[d]}-")
        pod_ip = str(node_pod_cidr(n, nodes).network_address + 1 + slot)  # host-local: .1 is the bridge, pods from .2
        labels = {"app": name, "pod-template-hash": rs_hash[d]}
        if d == 0:
            labels = {"k8s-app": "kube-dns", "pod-template-hash": rs_hash[d]}
        item = _pod(
            namespace=_deployment_namespace(d),
            name=pod_name,
            labels=labels,
            owner=("ReplicaSet", f"{name}-{rs_hash[d]}", rs_uid[d]),
            node=n,
            pod_ip=pod_ip,
            host_network=False,
            containers=_app_containers(d),
            ready=ready,
            ids=ids,
        )
        pod_items.append(item)
        backends.setdefault(d, []).append((pod_name, item["metadata"]["uid"], pod_ip, n, ready))

    # Services and their EndpointSlices.
    service_hosts = ids.rng.sample(range(11, SERVICE_NETWORK.num_addresses - 1), n_services)
    n_node_ports = min(sum(1 for d in range(1, n_services) if d % NODE_PORT_EVERY == 3),
                       NODE_PORT_RANGE[1] - NODE_PORT_RANGE[0] + 1)
    node_ports = iter(ids.rng.sample(range(NODE_PORT_RANGE[0], NODE_PORT_RANGE[1] + 1), n_node_ports))
    service_items: list[dict[str, Any]] = []
    slice_items: list[dict[str, Any]] = []
    for d in range(n_services):
        name, namespace = ("kube-dns" if d == 0 else _deployment_name(d)), _deployment_namespace(d)
        cluster_ip = CLUSTER_DNS_IP if d == 0 else str(SERVICE_NETWORK.network_address + service_hosts[d])
        node_port = next(node_ports, None) if d % NODE_PORT_EVERY == 3 else None
        svc_type = "NodePort" if node_port is not None else "ClusterIP"
        svc_uid = ids.uid()
        selector = {"k8s-app": "kube-dns"} if d == 0 else {"app": name}
        spec: dict[str, Any] = {
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": _service_ports(d, node_port),
            "selector": selector,
            "sessionAffinity": "None",
            "type": svc_type,
        }
        if svc_type == "NodePort":
            spec["externalTrafficPolicy"] = "Cluster"
        stamp = ids.timestamp()
        service_items.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "creationTimestamp": stamp,
                    "labels": dict(selector),
                    "name": name,
                    "namespace": namespace,
                    "resourceVersion": ids.rv(),
                    "uid": svc_uid,
                },
                "spec": spec,
                "status": {"loadBalancer": {}},
            }
        )
        endpoints = [
            {
                "addresses": [ip],
                "conditions": {"ready": ready},
                "nodeName": node_name(n),
                "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace},
            }
            for pod_name, pod_uid, ip, n, ready in sorted(
                backends.get(d, []), key=lambda b: ipaddress.IPv4Address(b[2])
            )
        ]
        endpoint_slice = {
            "addressType": "IPv4",
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "creationTimestamp": stamp,
                "labels": {
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    "kubernetes.io/service-name": name,
                },
                "name": f"{name}-{ids.suffix(5)}",
                "namespace": namespace,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Service",
                        "name": name,
                        "uid": svc_uid,
                    }
                ],
                "resourceVersion": ids.rv(),
                "uid": ids.uid(),
            },
            "ports": _slice_ports(d),
        }
        if endpoints:  # kubectl omits an empty endpoints list
            endpoint_slice["endpoints"] = endpoints
        slice_items.append(endpoint_slice)

    def by_namespace_name(item: dict[str, Any]) -> tuple[str, str]:
        return item["metadata"]["namespace"], item["metadata"]["name"]

    items = (
        node_items
        + sorted(pod_items, key=by_namespace_name)
        + sorted(service_items, key=by_namespace_name)
        + sorted(slice_items, key=by_namespace_name)
    )
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


# ---------------------------------------------------------------------------------------------------------
# Writing. kubectl's printers sort keys; its YAML puts a list's dashes at the parent key's indentation.

_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_/.][A-Za-z0-9_./:@+-]*\Z")
_RESOLVER = yaml.resolver.Resolver()
_plain_cache: dict[str, bool] = {}


def _is_plain(text: str) -> bool:
    """Whether a string can be written unquoted and still read back as that same string."""
    known = _plain_cache.get(text)
    if known is None:
        known = bool(_PLAIN_SAFE.match(text)) and not text.endswith(":") and ": " not in text and (
            _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
        )
        if len(_plain_cache) < 200_000:
            _plain_cache[text] = known
    return known


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _is_plain(value) else json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Write a mapping or a list in block style, each line starting at `indent`."""
    if isinstance(value, dict):
        for key in sorted(value):
            child = value[key]
            head = f"{indent}{_scalar(key)}:"
            if isinstance(child, dict) and child:
                out.append(head + "\n")
                _emit(child, indent + "  ", out)
            elif isinstance(child, list) and child:
                out.append(head + "\n")
                _emit(child, indent, out)
            else:
                out.append(f"{head} {_flow_empty(child)}\n")
    else:
        for element in value:
            if isinstance(element, dict) and element:
                lines: list[str] = []
                _emit(element, indent + "  ", lines)
                lines[0] = indent + "- " + lines[0][len(indent) + 2 :]
                out.extend(lines)
            elif isinstance(element, list) and element:
                lines = []
                _emit(element, indent + "  ", lines)
                lines[0] = indent + "- " + lines[0][len(indent) + 2 :]
                out.extend(lines)
            else:
                out.append(f"{indent}- {_flow_empty(element)}\n")


def _flow_empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump_yaml(dump: dict) -> str:
    """The dump as `kubectl -o yaml` prints it."""
    out: list[str] = []
    _emit(dump, "", out)
    return "".join(out)


def dump_json(dump: dict) -> str:
    """The dump as JSON with sorted keys, one item per line.

    kubectl's own `-o json` indents by 4 spaces, which makes a 1,000-node dump ~80 MB, past the upload limit;
    one compact item per line (what `kubectl get -o json | jq -c '.items[]'` gives, wrapped back into the List)
    keeps the same data at ~32 MB and still lets an error name the line of the item at fault.
    """
    head = {k: v for k, v in dump.items() if k != "items"}
    compact = {"separators": (",", ":"), "sort_keys": True}
    items = ",\n".join(json.dumps(item, **compact) for item in dump["items"])
    fields = [f"{json.dumps(k)}:{json.dumps(v, **compact)}" for k, v in sorted(head.items())]
    fields.append(f'"items":[\n{items}\n]' if items else '"items":[]')
    return "{" + ",".join(sorted(fields)) + "}\n"


OUT_DIR = Path(__file__).resolve().parent / "out"
"""Where benchmarks keep generated dumps between runs (gitignored)."""


def cached_dump(nodes: int, fmt: str) -> Path:
    """benchmarks/out/cluster-<nodes>.<fmt>, generated (seed 0, default sizes) when missing."""
    path = OUT_DIR / f"cluster-{nodes}.{fmt}"
    if not path.exists():
        write_dump(path, nodes, fmt)
    return path


def write_dump(
    path: str | Path, nodes: int, fmt: str = "yaml", *, pods_per_node: int = 30, services_per_node: int = 3,
    seed: int = 0, not_ready_pod_every: int = NOT_READY_POD_EVERY,
) -> Path:
    """Generate and write one dump; returns its path."""
    dump = generate_dump(nodes, pods_per_node, services_per_node, seed, not_ready_pod_every)
    text = dump_yaml(dump) if fmt == "yaml" else dump_json(dump)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--services-per-node", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--out", help="output file (default: stdout)")
    args = parser.parse_args(argv)
    dump = generate_dump(args.nodes, args.pods_per_node, args.services_per_node, args.seed)
    text = dump_yaml(dump) if args.format == "yaml" else dump_json(dump)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{args.out}: {len(dump['items'])} objects, {len(text.encode()):,} bytes", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
