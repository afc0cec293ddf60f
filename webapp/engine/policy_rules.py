"""The filter rules an enforcing network plugin programs on a node for NetworkPolicy, in `iptables-restore` form.

Canal = flannel's datapath + Calico's Felix, which writes per-endpoint chains. The shapes follow Felix's iptables
renderer (projectcalico/calico felix/rules: static.go, endpoints.go, policy.go; docs/network-policy.md lists what
is kept and what is simplified):

- filter FORWARD starts with a jump to `cali-FORWARD` (Felix inserts it at the top) and ends with
  `-m mark --mark 0x10000/0x10000 -j ACCEPT` ("Policy explicitly accepted packet.", Felix appends it);
- `cali-FORWARD` sends what comes from the pods to `cali-from-wl-dispatch` and what goes to them to
  `cali-to-wl-dispatch`; these jump (goto) to the endpoint's `cali-fw-<veth>` (from workload: its egress) and
  `cali-tw-<veth>` (to workload: its ingress). Felix matches its routed `cali+` veths; on flannel's bridge the
  FORWARD hook sees cni0 (br_netfilter), so the dispatch matches the bridge and the pod's address;
- an endpoint chain accepts conntrack ESTABLISHED,RELATED first (replies of allowed connections), drops INVALID,
  clears the accept mark, then (when policies select the pod) jumps to each policy's `cali-pi-…`/`cali-po-…`
  chain, returning as soon as one set the accept mark 0x10000, and drops "if no policies passed packet"; a pod
  no policy selects goes to its namespace profile `cali-pri-kns.<ns>`/`cali-pro-kns.<ns>`, which allows all;
- a policy chain sets the accept mark for each rule × peer × port, then returns if it is set. Felix matches peers
  through ipsets; here selectors are expanded to the pods' /32s. ipBlock `except` uses Felix's scratch mark
  0x40000: set for the excluded ranges first, required clear by the rule.
- pods reaching their own node (INPUT) pass through `cali-from-wl-dispatch` too (Felix's `cali-wl-to-host`); the
  node reaching its own pods (OUTPUT) is not policed (Felix: "We don't currently police host -> endpoint").

Each rule that lets a packet through carries its policy, rule and port reference in its comment
(`np=backend/api rule=spec.ingress[0].from[1] ports=spec.ingress[0].ports[0]`), read back by `rule_meta`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from ipaddress import IPv4Network

from webapp.engine.datapath import veth_name
from webapp.engine.policy import Direction, Party, peer_matches, selecting_policies
from webapp.model import Cluster, KubeProxyMode, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyType

ACCEPT_MARK = 0x10000
"""Felix's IptablesMarkAccept with the default mark mask 0xffff0000."""
PASS_MARK = 0x20000
SCRATCH_MARK = 0x40000
MAX_CHAIN = 28
"""iptables chain names are at most 28 characters (Felix hashes longer names)."""

IPVS_COMMENT = "IPVS: policed once the virtual server forwarded it"
FORWARD_CHAIN = "cali-FORWARD"
INPUT_CHAIN = "cali-INPUT"
TO_HOST_CHAIN = "cali-wl-to-host"
FROM_DISPATCH = "cali-from-wl-dispatch"
TO_DISPATCH = "cali-to-wl-dispatch"

_META = re.compile(r'--comment "np=(?P<policy>\S+) rule=(?P<rule>\S+) ports=(?P<ports>\S*)"')


@dataclass(frozen=True)
class RuleMeta:
    """What an accepting policy rule stands for."""

    policy: str
    direction: Direction
    rule: str
    port_rule: str


@dataclass(frozen=True)
class NodePolicyRules:
    """The policy part of a node's filter table: its own chains, and the rules FORWARD and INPUT start and end with."""

    chains: tuple[tuple[str, tuple[str, ...]], ...]
    """(chain, its `-A` rules), in rendering order."""
    forward_first: tuple[str, ...] = ()
    """Rules at the top of filter FORWARD, before kube-proxy's and flannel's."""
    forward_last: tuple[str, ...] = ()
    """Rules at the very end of filter FORWARD."""
    input_first: tuple[str, ...] = ()
    """Rules at the top of filter INPUT."""
    endpoints: tuple[tuple[str, str], ...] = ()
    """(endpoint chain, pod key): which pod each `cali-tw-`/`cali-fw-` chain guards."""

    def head_text(self) -> str:
        """The chains and the jumps that go first in FORWARD and INPUT, as `iptables-restore --noflush` input loaded
        before any other writer's ("" when nothing is enforced)."""
        if not self.chains:
            return ""
        return "\n".join(["*filter", *self._declarations(), *self.forward_first, *self.input_first,
                          *self._rules(), "COMMIT", ""])

    def chains_text(self) -> str:
        """The plugin's own chains alone, as `iptables-restore --noflush` input: loaded into a node that has them
        already, it rewrites them (each declared chain is flushed first), as Felix reprograms a changed policy."""
        if not self.chains:
            return ""
        return "\n".join(["*filter", *self._declarations(), *self._rules(), "COMMIT", ""])

    def _declarations(self) -> list[str]:
        return [f":{name} - [0:0]" for name, _ in self.chains]

    def _rules(self) -> list[str]:
        return [rule for _, chain_rules in self.chains for rule in chain_rules]

    def tail_text(self) -> str:
        """The rules that go last in FORWARD, as `iptables-restore --noflush` input loaded after every other
        writer's ("" when nothing is enforced)."""
        return "\n".join(["*filter", *self.forward_last, "COMMIT", ""]) if self.forward_last else ""

    def restore_text(self) -> str:
        """The filter table on its own, as `iptables-restore` reads it ("" when nothing is enforced)."""
        if not self.chains:
            return ""
        lines = ["*filter", *(f":{name} - [0:0]" for name, _ in self.chains),
                 *self.forward_first, *self.input_first]
        for _, rules in self.chains:
            lines.extend(rules)
        lines.extend(self.forward_last)
        return "\n".join([*lines, "COMMIT", ""])


def render_policy_rules(cluster: Cluster, node_name: str) -> NodePolicyRules:
    """The chains the plugin programs on this node for its pods; empty when the plugin enforces no policy."""
    if node_name not in cluster.node_by_name:
        raise ValueError(f"node {node_name!r} not found")
    if not cluster.settings.enforces_policy:
        return NodePolicyRules(())
    bridge = str(cluster.settings.bridge)
    pods = [p for p in cluster.pods_by_node.get(node_name, ()) if not p.host_network]
    chains: dict[str, list[str]] = {FORWARD_CHAIN: [], INPUT_CHAIN: [], TO_HOST_CHAIN: [], FROM_DISPATCH: [],
                                    TO_DISPATCH: []}
    chains[FORWARD_CHAIN] += [
        f"-A {FORWARD_CHAIN} -m comment --comment \"Clear the policy marks\" -j MARK --set-xmark "
        f"0x0/{PASS_MARK | SCRATCH_MARK:#x}",
        f"-A {FORWARD_CHAIN} -i {bridge} -j {FROM_DISPATCH}",
        f"-A {FORWARD_CHAIN} -o {bridge} -j {TO_DISPATCH}",
    ]
    if cluster.settings.kube_proxy_mode == KubeProxyMode.IPVS:
        # Felix with kube-proxy's IPVS: a pod's packet for a virtual server hits INPUT, then leaves through OUTPUT
        # once IPVS forwarded it; Felix handles it there as if it had hit FORWARD (static.go, KubeIPVSSupport).
        # Here: not policed as traffic to the host, and the walk runs cali-FORWARD on the forwarded packet.
        chains[INPUT_CHAIN].append(f"-A {INPUT_CHAIN} -i {bridge} -d {cluster.settings.service_cidr} -m comment "
                                   f"--comment \"{IPVS_COMMENT}\" -j RETURN")
    chains[INPUT_CHAIN] += [f"-A {INPUT_CHAIN} -i {bridge} -g {TO_HOST_CHAIN}"]
    chains[TO_HOST_CHAIN] += [
        f"-A {TO_HOST_CHAIN} -j {FROM_DISPATCH}",
        f"-A {TO_HOST_CHAIN} -m comment --comment \"Configured DefaultEndpointToHostAction\" -j ACCEPT",
    ]
    policies: dict[tuple[str, Direction], NetworkPolicy] = {}
    profiles: set[str] = set()
    endpoints: list[tuple[str, str]] = []
    for pod in pods:
        fw, tw = endpoint_chain(pod, Direction.EGRESS), endpoint_chain(pod, Direction.INGRESS)
        chains[FROM_DISPATCH].append(f"-A {FROM_DISPATCH} -s {pod.pod_ip}/32 -g {fw}")
        chains[TO_DISPATCH].append(f"-A {TO_DISPATCH} -d {pod.pod_ip}/32 -g {tw}")
        for chain, direction in ((fw, Direction.EGRESS), (tw, Direction.INGRESS)):
            selecting = selecting_policies(cluster, pod, direction)
            for policy in selecting:
                policies[policy.key, direction] = policy
            profiles.add(pod.namespace)
            chains[chain] = _endpoint_chain(chain, pod, direction, selecting)
            endpoints.append((chain, pod.key))
    chains[FROM_DISPATCH].append(f"-A {FROM_DISPATCH} -m comment --comment \"Unknown interface\" -j DROP")
    chains[TO_DISPATCH].append(f"-A {TO_DISPATCH} -m comment --comment \"Unknown interface\" -j DROP")
    for (_, direction), policy in sorted(policies.items(), key=lambda item: (item[0][0], item[0][1].value)):
        name = policy_chain(policy, direction)
        chains[name] = _policy_chain(cluster, name, policy, direction, pods)
    for namespace in sorted(profiles):
        for direction in Direction:
            name = profile_chain(namespace, direction)
            chains[name] = [f"-A {name} -j MARK --set-xmark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}",
                            f"-A {name} -m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x} -j RETURN"]
    return NodePolicyRules(
        chains=tuple((name, tuple(rules)) for name, rules in chains.items()),
        forward_first=(f"-A FORWARD -m comment --comment \"cali:policy\" -j {FORWARD_CHAIN}",),
        forward_last=(f"-A FORWARD -m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x} "
                      "-m comment --comment \"Policy explicitly accepted packet.\" -j ACCEPT",),
        input_first=(f"-A INPUT -m comment --comment \"cali:policy\" -j {INPUT_CHAIN}",),
        endpoints=tuple(endpoints),
    )


def endpoint_chain(pod: Pod, direction: Direction) -> str:
    """The pod's chain on the host side of its veth: `cali-fw-<veth>` (from the pod: its egress) or
    `cali-tw-<veth>` (to the pod: its ingress)."""
    return f"cali-{'fw' if direction == Direction.EGRESS else 'tw'}-{veth_name(pod.key)}"


def policy_chain(policy: NetworkPolicy, direction: Direction) -> str:
    """`cali-pi-…` (ingress) or `cali-po-…` (egress) for a Kubernetes policy (Felix's `knp.default.<name>`)."""
    prefix = "cali-pi-" if direction == Direction.INGRESS else "cali-po-"
    return _limited(prefix, f"{policy.namespace}/knp.default.{policy.name}")


def profile_chain(namespace: str, direction: Direction) -> str:
    """The namespace profile: `cali-pri-kns.<ns>` (ingress) or `cali-pro-kns.<ns>` (egress)."""
    return _limited("cali-pri-" if direction == Direction.INGRESS else "cali-pro-", f"kns.{namespace}")


def rule_meta(rule: str) -> RuleMeta | None:
    """The policy, direction, rule and port reference an accepting policy rule carries, or None."""
    found = _META.search(rule)
    if found is None:
        return None
    direction = Direction.INGRESS if found["rule"].startswith("spec.ingress") else Direction.EGRESS
    return RuleMeta(found["policy"], direction, found["rule"], found["ports"])


def _limited(prefix: str, ident: str) -> str:
    """prefix + ident, or prefix + `_` + a hash of ident when that is longer than a chain name may be (as Felix)."""
    if len(prefix) + len(ident) <= MAX_CHAIN:
        return prefix + ident
    digest = base64.urlsafe_b64encode(hashlib.sha224(ident.encode()).digest()).decode()
    return prefix + "_" + digest[:MAX_CHAIN - len(prefix) - 1]


def _endpoint_chain(chain: str, pod: Pod, direction: Direction, selecting: tuple[NetworkPolicy, ...]) -> list[str]:
    accept = f"{ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}"
    rules = [
        f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A {chain} -m conntrack --ctstate INVALID -j DROP",
        f"-A {chain} -j MARK --set-xmark 0x0/{ACCEPT_MARK:#x}",
    ]
    if selecting:
        rules.append(f"-A {chain} -m comment --comment \"Start of policies\" -j MARK --set-xmark 0x0/{PASS_MARK:#x}")
        for policy in selecting:
            rules += [f"-A {chain} -m mark --mark 0x0/{PASS_MARK:#x} -j {policy_chain(policy, direction)}",
                      f"-A {chain} -m mark --mark {accept} -m comment --comment \"Return if policy accepted\" "
                      "-j RETURN"]
        rules.append(f"-A {chain} -m mark --mark 0x0/{PASS_MARK:#x} "
                     "-m comment --comment \"Drop if no policies passed packet\" -j DROP")
    else:
        rules += [f"-A {chain} -j {profile_chain(pod.namespace, direction)}",
                  f"-A {chain} -m mark --mark {accept} -m comment --comment \"Return if profile accepted\" -j RETURN"]
    rules.append(f"-A {chain} -m comment --comment \"Drop if no profiles matched\" -j DROP")
    return rules


def _policy_chain(cluster: Cluster, chain: str, policy: NetworkPolicy, direction: Direction,
                  local: list[Pod]) -> list[str]:
    """Each rule × peer × port sets the accept mark; the chain returns once a rule has set it."""
    kind = direction.policy_type
    ingress = kind == PolicyType.INGRESS
    selected = [p for p in local if policy in selecting_policies(cluster, p, direction)]
    peer_flag, peers_key = ("-s", "from") if ingress else ("-d", "to")
    rules: list[str] = []
    for i, rule in enumerate(policy.rules(kind)):
        where = f"spec.{direction.value}[{i}]"
        peers: list[tuple[str, PolicyPeer | None]] = (
            [(f"{where}.{peers_key}[{j}]", peer) for j, peer in enumerate(rule.peers)] or [(where, None)])
        ports: list[tuple[str, PolicyPort | None]] = (
            [(f"{where}.ports[{k}]", port) for k, port in enumerate(rule.ports)] or [("", None)])
        for peer_ref, peer in peers:
            nets, excepted = _peer_nets(cluster, policy, peer)
            if peer is not None and not nets:
                continue  # a selector matching no pod: nothing to render
            if excepted:
                rules.append(f"-A {chain} -j MARK --set-xmark 0x0/{SCRATCH_MARK:#x}")
                rules += [f"-A {chain} {peer_flag} {net} -j MARK --set-xmark {SCRATCH_MARK:#x}/{SCRATCH_MARK:#x}"
                          for net in excepted]
            scratch = f" -m mark --mark 0x0/{SCRATCH_MARK:#x}" if excepted else ""
            for port_ref, port in ports:
                comment = f' -m comment --comment "np={policy.key} rule={peer_ref} ports={port_ref}"'
                for net in nets or [None]:
                    # named ports resolve on the destination: the selected pods (ingress) or the peer pods (egress)
                    owners = selected if ingress else _peer_pods(cluster, policy, peer, net)
                    for match in _port_matches(port, owners, address=ingress or net is None):
                        peer_match = f" {peer_flag} {net}" if net is not None else ""
                        rules.append(f"-A {chain}{peer_match}{scratch}{match}{comment} "
                                     f"-j MARK --set-xmark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}")
        rules.append(f"-A {chain} -m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x} -j RETURN")
    return rules


def _peer_nets(cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer | None
               ) -> tuple[list[IPv4Network | None], tuple[IPv4Network, ...]]:
    """The networks a peer stands for (pods as /32s, in pod order), and the ranges its ipBlock leaves out."""
    if peer is None:
        return [], ()
    if peer.ip_block is not None:
        return [peer.ip_block.cidr], peer.ip_block.excepted
    return [IPv4Network(p.pod_ip) for p in cluster.pods
            if not p.host_network and peer_matches(cluster, policy.namespace, peer, Party(p.pod_ip, p))], ()


def _peer_pods(cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer | None, net: IPv4Network | None
               ) -> list[Pod]:
    """The destination pods an egress peer rule reaches: the pod of a /32, every pod for no peer, none for a block."""
    if peer is None:
        return [p for p in cluster.pods if not p.host_network]
    if peer.ip_block is not None or net is None:
        return []
    pod = cluster.pod_by_ip.get(net.network_address)
    return [pod] if pod is not None else []


def _port_matches(port: PolicyPort | None, owners: list[Pod], address: bool) -> list[str]:
    """The `-p … --dport …` matches of one port entry; a named port becomes `--dport <number>` per destination pod
    that declares it, with `-d <pod>` unless the peer names the pod already (none: the entry matches nothing)."""
    if port is None:
        return [""]
    proto = str(port.protocol).lower()
    if port.port is None:
        return [f" -p {proto}"]
    if isinstance(port.port, int):
        span = f"{port.port}:{port.end_port}" if port.end_port else str(port.port)
        return [f" -p {proto} -m {proto} --dport {span}"]
    found = []
    for pod in owners:
        declared = pod.find_port(port.port, port.protocol)
        if declared is not None:
            target = f" -d {pod.pod_ip}/32" if address else ""
            found.append(f"{target} -p {proto} -m {proto} --dport {declared[1].container_port}")
    return found
