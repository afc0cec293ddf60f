"""kube-proxy's nftables mode: the rendered table (pinned line by line, and against upstream proxier_test.go), the
`nft list` form, the typed ruleset and the evaluator, and the kernel accepting every rendered ruleset."""

from __future__ import annotations

import os
import re
from collections import Counter
import shutil
import subprocess
import uuid
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest

from factories import service_cluster
from upstream import overall_cluster
from webapp.engine.flows import FlowType
from webapp.engine.kubeproxy.chains import service_ports
from webapp.engine.kubeproxy.nftables import (
    chain_name_base, endpoint_chain_name_base, hash_and_truncate, render_nft_list, render_nft_transaction,
)
from webapp.engine.kubeproxy.rules_command import render_node_rules
from webapp.engine.netfilter import Hook, PacketContext, Verdict
from webapp.engine.nft import (
    Compare, Dnat, MapLookup, MarkSet, MarkTest, Masquerade, NftRuleset, NftVerdict, NumgenMap, Selector, SetUpdate,
    VerdictKind, listed_expression, nft_duration, nft_priority, parse_rule, traverse,
)
from webapp.engine.trace import Packet, SocketAddress
from webapp.loaders import list_samples, load_sample
from webapp.model import Cluster, KubeProxyMode, ServiceType, SessionAffinity, TrafficPolicy


def lb_cluster() -> Cluster:
    """default/web as a LoadBalancer 203.0.113.100 (nodePort 30080) with loadBalancerSourceRanges that hold the
    nodes' network, externalTrafficPolicy Local, and one endpoint: web-a on node-1 (node-2 has none)."""
    return service_cluster(
        endpoints=1, type=ServiceType.LOAD_BALANCER, node_port=30080,
        load_balancer_ips=(IPv4Address("203.0.113.100"),),
        load_balancer_source_ranges=(IPv4Network("203.0.113.0/25"), IPv4Network("192.168.0.0/24")),
        external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)


SEED_NODE_1 = """\
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53
add chain ip kube-proxy endpoint-5OQ6UJ5V-kube-system/kube-dns/udp/dns__10.244.1.5/53
add chain ip kube-proxy endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53
add chain ip kube-proxy endpoint-6Y6EDNKS-default/api-lb/tcp/__10.244.1.3/8080
add chain ip kube-proxy endpoint-AT4T6WXP-default/api-lb/tcp/__10.244.2.3/8080
add chain ip kube-proxy endpoint-KLDTO2PW-default/web/tcp/http__10.244.2.2/80
add chain ip kube-proxy endpoint-MHC33BTP-default/web-nodeport/tcp/__10.244.1.2/80
add chain ip kube-proxy endpoint-OHJKEIKI-kube-system/kube-dns/tcp/metrics__10.244.1.5/9153
add chain ip kube-proxy endpoint-T7V6LSAU-kube-system/kube-dns/tcp/metrics__10.244.1.4/9153
add chain ip kube-proxy endpoint-VOYSF7BH-kube-system/kube-dns/tcp/dns-tcp__10.244.1.5/53
add chain ip kube-proxy endpoint-WZUVD3EN-default/web/tcp/http__10.244.1.2/80
add chain ip kube-proxy endpoint-XT3JMDTE-default/db/tcp/__10.244.2.4/5432
add chain ip kube-proxy endpoint-YAJJLE7C-default/kubernetes/tcp/https__192.168.0.11/6443
add chain ip kube-proxy endpoint-YTE2AUC4-default/web-nodeport/tcp/__10.244.2.2/80
add chain ip kube-proxy external-L26PKNIO-default/db/tcp/
add chain ip kube-proxy external-RI7FT74Q-default/api-lb/tcp/
add chain ip kube-proxy external-SXIFFM75-default/web-nodeport/tcp/
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy service-2QRHZV4L-default/kubernetes/tcp/https
add chain ip kube-proxy service-AS2KJYAD-kube-system/kube-dns/tcp/metrics
add chain ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns
add chain ip kube-proxy service-L26PKNIO-default/db/tcp/
add chain ip kube-proxy service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp
add chain ip kube-proxy service-RI7FT74Q-default/api-lb/tcp/
add chain ip kube-proxy service-SUSTUHLJ-default/web/tcp/http
add chain ip kube-proxy service-SXIFFM75-default/web-nodeport/tcp/
add chain ip kube-proxy service-endpoints-check
add chain ip kube-proxy services
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/12 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 ip saddr 10.244.1.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 meta l4proto udp dnat to 10.244.1.4:53
add rule ip kube-proxy endpoint-5OQ6UJ5V-kube-system/kube-dns/udp/dns__10.244.1.5/53 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OQ6UJ5V-kube-system/kube-dns/udp/dns__10.244.1.5/53 meta l4proto udp dnat to 10.244.1.5:53
add rule ip kube-proxy endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53 ip saddr 10.244.1.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53 meta l4proto tcp dnat to 10.244.1.4:53
add rule ip kube-proxy endpoint-6Y6EDNKS-default/api-lb/tcp/__10.244.1.3/8080 ip saddr 10.244.1.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-6Y6EDNKS-default/api-lb/tcp/__10.244.1.3/8080 meta l4proto tcp dnat to 10.244.1.3:8080
add rule ip kube-proxy endpoint-AT4T6WXP-default/api-lb/tcp/__10.244.2.3/8080 ip saddr 10.244.2.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-AT4T6WXP-default/api-lb/tcp/__10.244.2.3/8080 meta l4proto tcp dnat to 10.244.2.3:8080
add rule ip kube-proxy endpoint-KLDTO2PW-default/web/tcp/http__10.244.2.2/80 ip saddr 10.244.2.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-KLDTO2PW-default/web/tcp/http__10.244.2.2/80 meta l4proto tcp dnat to 10.244.2.2:80
add rule ip kube-proxy endpoint-MHC33BTP-default/web-nodeport/tcp/__10.244.1.2/80 ip saddr 10.244.1.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-MHC33BTP-default/web-nodeport/tcp/__10.244.1.2/80 meta l4proto tcp dnat to 10.244.1.2:80
add rule ip kube-proxy endpoint-OHJKEIKI-kube-system/kube-dns/tcp/metrics__10.244.1.5/9153 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-OHJKEIKI-kube-system/kube-dns/tcp/metrics__10.244.1.5/9153 meta l4proto tcp dnat to 10.244.1.5:9153
add rule ip kube-proxy endpoint-T7V6LSAU-kube-system/kube-dns/tcp/metrics__10.244.1.4/9153 ip saddr 10.244.1.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-T7V6LSAU-kube-system/kube-dns/tcp/metrics__10.244.1.4/9153 meta l4proto tcp dnat to 10.244.1.4:9153
add rule ip kube-proxy endpoint-VOYSF7BH-kube-system/kube-dns/tcp/dns-tcp__10.244.1.5/53 ip saddr 10.244.1.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-VOYSF7BH-kube-system/kube-dns/tcp/dns-tcp__10.244.1.5/53 meta l4proto tcp dnat to 10.244.1.5:53
add rule ip kube-proxy endpoint-WZUVD3EN-default/web/tcp/http__10.244.1.2/80 ip saddr 10.244.1.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WZUVD3EN-default/web/tcp/http__10.244.1.2/80 meta l4proto tcp dnat to 10.244.1.2:80
add rule ip kube-proxy endpoint-XT3JMDTE-default/db/tcp/__10.244.2.4/5432 ip saddr 10.244.2.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-XT3JMDTE-default/db/tcp/__10.244.2.4/5432 meta l4proto tcp dnat to 10.244.2.4:5432
add rule ip kube-proxy endpoint-YAJJLE7C-default/kubernetes/tcp/https__192.168.0.11/6443 ip saddr 192.168.0.11 jump mark-for-masquerade
add rule ip kube-proxy endpoint-YAJJLE7C-default/kubernetes/tcp/https__192.168.0.11/6443 meta l4proto tcp dnat to 192.168.0.11:6443
add rule ip kube-proxy endpoint-YTE2AUC4-default/web-nodeport/tcp/__10.244.2.2/80 ip saddr 10.244.2.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-YTE2AUC4-default/web-nodeport/tcp/__10.244.2.2/80 meta l4proto tcp dnat to 10.244.2.2:80
add rule ip kube-proxy external-L26PKNIO-default/db/tcp/ jump mark-for-masquerade
add rule ip kube-proxy external-L26PKNIO-default/db/tcp/ goto service-L26PKNIO-default/db/tcp/
add rule ip kube-proxy external-RI7FT74Q-default/api-lb/tcp/ jump mark-for-masquerade
add rule ip kube-proxy external-RI7FT74Q-default/api-lb/tcp/ goto service-RI7FT74Q-default/api-lb/tcp/
add rule ip kube-proxy external-SXIFFM75-default/web-nodeport/tcp/ jump mark-for-masquerade
add rule ip kube-proxy external-SXIFFM75-default/web-nodeport/tcp/ goto service-SXIFFM75-default/web-nodeport/tcp/
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy service-2QRHZV4L-default/kubernetes/tcp/https ip daddr 10.96.0.1 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-2QRHZV4L-default/kubernetes/tcp/https numgen random mod 1 vmap { 0 : goto endpoint-YAJJLE7C-default/kubernetes/tcp/https__192.168.0.11/6443 }
add rule ip kube-proxy service-AS2KJYAD-kube-system/kube-dns/tcp/metrics ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-AS2KJYAD-kube-system/kube-dns/tcp/metrics numgen random mod 2 vmap { 0 : goto endpoint-T7V6LSAU-kube-system/kube-dns/tcp/metrics__10.244.1.4/9153 , 1 : goto endpoint-OHJKEIKI-kube-system/kube-dns/tcp/metrics__10.244.1.5/9153 }
add rule ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns numgen random mod 2 vmap { 0 : goto endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 , 1 : goto endpoint-5OQ6UJ5V-kube-system/kube-dns/udp/dns__10.244.1.5/53 }
add rule ip kube-proxy service-L26PKNIO-default/db/tcp/ ip daddr 10.96.0.12 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-L26PKNIO-default/db/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-XT3JMDTE-default/db/tcp/__10.244.2.4/5432 }
add rule ip kube-proxy service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp numgen random mod 2 vmap { 0 : goto endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53 , 1 : goto endpoint-VOYSF7BH-kube-system/kube-dns/tcp/dns-tcp__10.244.1.5/53 }
add rule ip kube-proxy service-RI7FT74Q-default/api-lb/tcp/ ip daddr 10.96.0.11 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-RI7FT74Q-default/api-lb/tcp/ numgen random mod 2 vmap { 0 : goto endpoint-6Y6EDNKS-default/api-lb/tcp/__10.244.1.3/8080 , 1 : goto endpoint-AT4T6WXP-default/api-lb/tcp/__10.244.2.3/8080 }
add rule ip kube-proxy service-SUSTUHLJ-default/web/tcp/http ip daddr 10.96.0.13 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-SUSTUHLJ-default/web/tcp/http numgen random mod 2 vmap { 0 : goto endpoint-WZUVD3EN-default/web/tcp/http__10.244.1.2/80 , 1 : goto endpoint-KLDTO2PW-default/web/tcp/http__10.244.2.2/80 }
add rule ip kube-proxy service-SXIFFM75-default/web-nodeport/tcp/ ip daddr 10.96.0.14 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-SXIFFM75-default/web-nodeport/tcp/ numgen random mod 2 vmap { 0 : goto endpoint-MHC33BTP-default/web-nodeport/tcp/__10.244.1.2/80 , 1 : goto endpoint-YTE2AUC4-default/web-nodeport/tcp/__10.244.2.2/80 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy cluster-ips { 10.96.0.11 }
add element ip kube-proxy cluster-ips { 10.96.0.12 }
add element ip kube-proxy cluster-ips { 10.96.0.1 }
add element ip kube-proxy cluster-ips { 10.96.0.13 }
add element ip kube-proxy cluster-ips { 10.96.0.14 }
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy nodeport-ips { 192.168.0.11 }
add element ip kube-proxy service-ips { 10.96.0.11 . tcp . 80 : goto service-RI7FT74Q-default/api-lb/tcp/ }
add element ip kube-proxy service-ips { 203.0.113.100 . tcp . 80 : goto external-RI7FT74Q-default/api-lb/tcp/ }
add element ip kube-proxy service-ips { 10.96.0.12 . tcp . 5432 : goto service-L26PKNIO-default/db/tcp/ }
add element ip kube-proxy service-ips { 192.168.0.100 . tcp . 5432 : goto external-L26PKNIO-default/db/tcp/ }
add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 443 : goto service-2QRHZV4L-default/kubernetes/tcp/https }
add element ip kube-proxy service-ips { 10.96.0.13 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http }
add element ip kube-proxy service-ips { 10.96.0.14 . tcp . 80 : goto service-SXIFFM75-default/web-nodeport/tcp/ }
add element ip kube-proxy service-ips { 10.96.0.10 . udp . 53 : goto service-FY5PMXPG-kube-system/kube-dns/udp/dns }
add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 53 : goto service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp }
add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 9153 : goto service-AS2KJYAD-kube-system/kube-dns/tcp/metrics }
add element ip kube-proxy service-nodeports { tcp . 30081 : goto external-RI7FT74Q-default/api-lb/tcp/ }
add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-SXIFFM75-default/web-nodeport/tcp/ }
"""

LB_NODE_2_SERVICES = """\
add chain ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53
add chain ip kube-proxy endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80
add chain ip kube-proxy external-SUSTUHLJ-default/web/tcp/http
add chain ip kube-proxy firewall-SUSTUHLJ-default/web/tcp/http
add chain ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns
add chain ip kube-proxy service-SUSTUHLJ-default/web/tcp/http
add rule ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 ip saddr 10.244.1.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 meta l4proto udp dnat to 10.244.1.4:53
add rule ip kube-proxy endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80 ip saddr 10.244.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80 meta l4proto tcp dnat to 10.244.0.3:80
add rule ip kube-proxy external-SUSTUHLJ-default/web/tcp/http ip saddr 10.244.0.0/16 goto service-SUSTUHLJ-default/web/tcp/http comment "short-circuit pod traffic"
add rule ip kube-proxy external-SUSTUHLJ-default/web/tcp/http fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"
add rule ip kube-proxy external-SUSTUHLJ-default/web/tcp/http fib saddr type local goto service-SUSTUHLJ-default/web/tcp/http comment "short-circuit local traffic"
add rule ip kube-proxy firewall-SUSTUHLJ-default/web/tcp/http ip saddr != { 203.0.113.0/25 , 192.168.0.0/24 , 203.0.113.100 } drop
add rule ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-FY5PMXPG-kube-system/kube-dns/udp/dns numgen random mod 1 vmap { 0 : goto endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 }
add rule ip kube-proxy service-SUSTUHLJ-default/web/tcp/http ip daddr 10.96.0.20 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-SUSTUHLJ-default/web/tcp/http numgen random mod 1 vmap { 0 : goto endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80 }
add element ip kube-proxy cluster-ips { 10.96.0.20 }
add element ip kube-proxy cluster-ips { 10.96.0.10 }
add element ip kube-proxy firewall-ips { 203.0.113.100 . tcp . 80 : goto firewall-SUSTUHLJ-default/web/tcp/http }
add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 comment "default/web:http" : drop }
add element ip kube-proxy no-endpoint-services { 203.0.113.100 . tcp . 80 comment "default/web:http" : drop }
add element ip kube-proxy service-ips { 10.96.0.20 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http }
add element ip kube-proxy service-ips { 203.0.113.100 . tcp . 80 : goto external-SUSTUHLJ-default/web/tcp/http }
add element ip kube-proxy service-ips { 10.96.0.10 . udp . 53 : goto service-FY5PMXPG-kube-system/kube-dns/udp/dns }
add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-SUSTUHLJ-default/web/tcp/http }
"""


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith("#")]


# --- rendering ----------------------------------------------------------------------------------------------

def test_seed_sample_node_1_transaction_is_pinned():
    assert render_nft_transaction(load_sample("seed-article"), "node-1") == SEED_NODE_1


def service_lines(cluster: Cluster, node: str) -> str:
    """The node's transaction without the lines it has with no services at all (setupNFTables' part, pinned
    with the seed sample above): what the services add, in the transaction's order."""
    fixed = set(render_nft_transaction(replace(cluster, services=(), endpoints=()), node).splitlines())
    return "".join(f"{line}\n" for line in render_nft_transaction(cluster, node).splitlines() if line not in fixed)


def test_the_setup_part_is_the_same_on_every_node_but_for_the_node_ip():
    empty = replace(lb_cluster(), services=(), endpoints=())
    node_1, node_2 = (render_nft_transaction(empty, n).splitlines() for n in ("node-1", "node-2"))
    assert [(a, b) for a, b in zip(node_1, node_2) if a != b] == [
        ("add element ip kube-proxy nodeport-ips { 192.168.0.11 }", "add element ip kube-proxy nodeport-ips { 192.168.0.12 }")]
    assert set(node_1) <= set(SEED_NODE_1.splitlines()) | {"add element ip kube-proxy nodeport-ips { 192.168.0.11 }"}
    assert "add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/12 } drop comment " \
           '"Drop traffic to unallocated ClusterIPs"' in node_1


def test_load_balancer_with_source_ranges_and_local_policy_on_a_node_without_endpoint():
    """node-2 has no endpoint of default/web: the external chain keeps only its short-circuit rules, and the LB IP
    and nodePort get `drop` elements; the node IP sits in a source range, so the LB IP itself is admitted."""
    assert service_lines(lb_cluster(), "node-2") == LB_NODE_2_SERVICES


def test_load_balancer_with_local_policy_on_the_node_with_the_endpoint():
    """node-1 holds web-a: a local- chain, the external chain's final goto to it, and no drop elements."""
    node_1, node_2 = render_nft_transaction(lb_cluster(), "node-1"), render_nft_transaction(lb_cluster(), "node-2")
    only_1 = [line for line in node_1.splitlines() if line not in node_2.splitlines()]
    only_2 = [line for line in node_2.splitlines() if line not in node_1.splitlines()]
    assert only_1 == [
        "add chain ip kube-proxy local-SUSTUHLJ-default/web/tcp/http",
        "add rule ip kube-proxy external-SUSTUHLJ-default/web/tcp/http goto local-SUSTUHLJ-default/web/tcp/http",
        "add rule ip kube-proxy local-SUSTUHLJ-default/web/tcp/http numgen random mod 1 vmap "
        "{ 0 : goto endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80 }",
        "add element ip kube-proxy nodeport-ips { 192.168.0.11 }",
    ]
    assert only_2 == [
        "add element ip kube-proxy nodeport-ips { 192.168.0.12 }",
        'add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 comment "default/web:http" : drop }',
        'add element ip kube-proxy no-endpoint-services { 203.0.113.100 . tcp . 80 comment "default/web:http" : drop }',
    ]


# pkg/proxy/nftables/proxier_test.go `baseRules` (v1.33+ layout: pre-DNAT filter chains at -110, the others at 0).
UPSTREAM_BASE_RULES = """
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
"""

# TestOverallNFTablesRules' expectation after `baseRules`.
UPSTREAM_OVERALL = """
# svc1
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }
add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
# svc2
add chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 }
add chain ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 ip saddr 10.0.0.0/8 goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit pod traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"
add chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 ip saddr 10.180.0.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 meta l4proto tcp dnat to 10.180.0.2:80
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 : goto service-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.22 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3001 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy no-endpoint-nodeports { tcp . 3001 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop }
# svc3
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }
# svc4
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 goto service-LAUZTJTB-ns4/svc4/tcp/p80
add chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 ip saddr 10.180.0.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.33 . tcp . 80 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }
# svc5
add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip daddr 172.30.0.45 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 goto service-HVFWP5L3-ns5/svc5/tcp/p80
add chain ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { ip saddr }
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add chain ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop
add element ip kube-proxy cluster-ips { 172.30.0.45 }
add element ip kube-proxy service-ips { 172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-ips { 5.6.7.8 . tcp . 80 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3002 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy firewall-ips { 5.6.7.8 . tcp . 80 : goto firewall-HVFWP5L3-ns5/svc5/tcp/p80 }
# svc6
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
"""


def upstream_overall_cluster() -> Cluster:
    """TestOverallNFTablesRules' services and EndpointSlices (TestOverallIPTablesRules' too) on its fake node
    (test-node, 192.168.0.2; pods 10.0.0.0/8; services 172.30.0.0/16), in nftables mode."""
    return overall_cluster(kube_proxy_mode=KubeProxyMode.NFTABLES)


def test_upstream_overall_nftables_rules():
    """proxier_test.go TestOverallNFTablesRules: the same lines (the upstream helper compares them unordered)."""
    rendered = render_nft_transaction(upstream_overall_cluster(), "test-node")
    assert sorted(lines(rendered)) == sorted(lines(UPSTREAM_BASE_RULES) + lines(UPSTREAM_OVERALL))


@pytest.mark.parametrize(("name", "expected"), [
    ("ns1/svc1/tcp/p80", "ULMVA6XW-ns1/svc1/tcp/p80"),                          # proxier.go's doc comment
    ("ns1/svc1/tcp/p80__10.180.0.1/80", "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"),
    ("testing/service/tcp/http", "P4ZYZVCF-testing/service/tcp/http"),
])
def test_hash_and_truncate_matches_upstream_names(name, expected):
    assert hash_and_truncate(name) == expected


def test_hash_and_truncate_cuts_long_names_to_240_characters():
    name = "n" * 63 + "/" + "s" * 63 + "/tcp/" + "p" * 63 + "__" + "fd00:1234:5678:9abc:def0:1234:5678:9abc".replace(
        ":", ".") + "/65535"
    cut = hash_and_truncate(name)
    assert len(cut) == 240 and cut.endswith("...") and cut[8:237] == "-" + name[:228]


def test_chain_names_of_an_unnamed_port_end_in_a_slash():
    cluster = load_sample("seed-article")
    info = next(i for i in service_ports(cluster, "node-1") if i.service.key == "default/db")
    assert chain_name_base(info) == "L26PKNIO-default/db/tcp/"
    assert endpoint_chain_name_base(info, info.endpoints[0]) == "XT3JMDTE-default/db/tcp/__10.244.2.4/5432"


# --- `nft list table` ------------------------------------------------------------------------------------------

def block(listing: str, header: str) -> str:
    """One `set …`/`map …`/`chain …` block of an `nft list` output."""
    start = listing.index(f"\t{header} {{\n")
    return listing[start:listing.index("\n\t}\n", start) + 4]


def test_list_prints_priorities_marks_and_anonymous_sets_as_nft_does():
    listing = render_nft_list(upstream_overall_cluster(), "test-node")
    assert listing.startswith('table ip kube-proxy {\n\tcomment "rules for kube-proxy"\n\tset affinity-')
    assert listing.endswith("\t}\n}\n")
    assert block(listing, "chain filter-prerouting-pre-dnat") == (
        "\tchain filter-prerouting-pre-dnat {\n"
        "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;\n"
        "\t\tct state new jump firewall-check\n\t}\n")
    assert "\t\ttype filter hook output priority -110; policy accept;\n" in block(listing, "chain filter-output-pre-dnat")
    assert "priority srcnat; policy accept;" in block(listing, "chain nat-postrouting")
    assert block(listing, "chain masquerading") == (
        "\tchain masquerading {\n"
        "\t\tmeta mark & 0x00004000 == 0x00000000 return\n"
        "\t\tmeta mark set meta mark ^ 0x00004000\n"
        "\t\tmasquerade fully-random\n\t}\n")
    assert block(listing, "chain cluster-ips-check") == (
        "\tchain cluster-ips-check {\n"
        '\t\tip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"\n'
        '\t\tip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"\n\t}\n')
    assert block(listing, "set affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80") == (
        "\tset affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 {\n"
        "\t\ttype ipv4_addr\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout 3h\n\t}\n")
    assert block(listing, "set cluster-ips") == (
        "\tset cluster-ips {\n\t\ttype ipv4_addr\n\t\tcomment \"Active ClusterIPs\"\n"
        "\t\telements = { 172.30.0.41, 172.30.0.42,\n\t\t\t     172.30.0.43, 172.30.0.44,\n"
        "\t\t\t     172.30.0.45, 172.30.0.46 }\n\t}\n")
    assert block(listing, "map service-nodeports") == (
        "\tmap service-nodeports {\n\t\ttype inet_proto . inet_service : verdict\n\t\tcomment \"NodePort traffic\"\n"
        "\t\telements = { tcp . 3001 : goto external-42NFTM6N-ns2/svc2/tcp/p80,\n"
        "\t\t\t     tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80,\n"
        "\t\t\t     tcp . 3002 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }\n\t}\n")
    assert block(listing, "chain reject-chain") == (
        '\tchain reject-chain {\n\t\tcomment "helper for @no-endpoint-services / @no-endpoint-nodeports"\n'
        "\t\treject\n\t}\n")


def test_list_merges_and_sorts_a_source_range_set_as_nft_does():
    """203.0.113.100 (the LB IP, admitted because a range holds the node IP) lies inside 203.0.113.0/25."""
    listing = render_nft_list(lb_cluster(), "node-2")
    assert block(listing, "chain firewall-SUSTUHLJ-default/web/tcp/http") == (
        "\tchain firewall-SUSTUHLJ-default/web/tcp/http {\n"
        "\t\tip saddr != { 192.168.0.0/24, 203.0.113.0/25 } drop\n\t}\n")
    rule = parse_rule("c", "ip saddr != { 10.0.0.128/25 , 10.0.0.0/25 , 10.0.1.7 } drop")
    assert listed_expression(rule.expressions[0]) == "ip saddr != { 10.0.0.0/24, 10.0.1.7 }"


@pytest.mark.parametrize(("hook", "priority", "text"), [
    ("prerouting", -110, "dstnat - 10"), ("prerouting", -100, "dstnat"), ("output", -100, "-100"),
    ("output", -110, "-110"), ("input", 0, "filter"), ("forward", 10, "filter + 10"), ("postrouting", 100, "srcnat"),
    ("output", -300, "raw"), ("input", 500, "500"),
])
def test_nft_priority_names(hook, priority, text):
    assert nft_priority(hook, priority) == text


@pytest.mark.parametrize(("seconds", "text"), [(10800, "3h"), (10, "10s"), (90, "1m30s"), (86401, "1d1s")])
def test_nft_duration(seconds, text):
    assert nft_duration(seconds) == text


# --- the typed ruleset --------------------------------------------------------------------------------------

def test_rules_parse_into_typed_expressions():
    assert parse_rule("c", "ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade").expressions == (
        Compare(Selector.IP_DADDR, False, ("172.30.0.41",)), Compare(Selector.IP_SADDR, True, ("10.0.0.0/8",)),
        NftVerdict(VerdictKind.JUMP, "mark-for-masquerade"))
    assert parse_rule("c", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports").expressions == (
        Compare(Selector.IP_DADDR, False, set_name="nodeport-ips"),
        MapLookup((Selector.L4PROTO, Selector.TH_DPORT), "service-nodeports"))
    assert parse_rule("c", "numgen random mod 2 vmap { 0 : goto a , 1 : goto b }").expressions == (
        NumgenMap(2, (NftVerdict(VerdictKind.GOTO, "a"), NftVerdict(VerdictKind.GOTO, "b"))),)
    assert parse_rule("c", "ip saddr != { 203.0.113.0/25 , 1.2.3.4 } drop").expressions == (
        Compare(Selector.IP_SADDR, True, ("203.0.113.0/25", "1.2.3.4"), anonymous=True), NftVerdict(VerdictKind.DROP))
    assert parse_rule("c", "mark and 0x4000 == 0 return").expressions == (
        MarkTest(0x4000, 0), NftVerdict(VerdictKind.RETURN))
    assert parse_rule("c", "mark set mark xor 0x4000").expressions == (MarkSet("xor", 0x4000),)
    assert parse_rule("c", "masquerade fully-random").expressions == (Masquerade(True),)
    assert parse_rule("c", "meta l4proto udp dnat to 10.244.1.4:53").expressions == (
        Compare(Selector.L4PROTO, False, ("udp",)), Dnat(SocketAddress(IPv4Address("10.244.1.4"), 53)))
    assert parse_rule("c", "update @affinity-x { ip saddr }").expressions == (SetUpdate("affinity-x", Selector.IP_SADDR),)
    rule = parse_rule("c", 'fib saddr type local goto s comment "short-circuit local traffic"')
    assert (rule.expressions, rule.comment, rule.text) == (
        (Compare(Selector.FIB_SADDR_TYPE, False, ("local",)), NftVerdict(VerdictKind.GOTO, "s")),
        "short-circuit local traffic", "fib saddr type local goto s")


def test_a_rule_it_cannot_read_is_kept_and_marked_unknown():
    rule = parse_rule("c", "tcp flags syn counter accept")
    assert (rule.unknown, rule.expressions, rule.text) == (True, (), "tcp flags syn counter accept")


def test_the_transaction_parses_into_chains_sets_and_maps():
    ruleset = NftRuleset.parse(render_nft_transaction(load_sample("seed-article"), "node-1"))
    assert (ruleset.family, ruleset.name, ruleset.comment) == ("ip", "kube-proxy", "rules for kube-proxy")
    assert [(c.name, c.priority) for c in ruleset.hook_chains(Hook.OUTPUT)] == [
        ("filter-output-pre-dnat", -110), ("nat-output", -100), ("filter-output", 0)]
    service_ips = ruleset.sets["service-ips"]
    assert (service_ips.key_types, service_ips.is_map, len(service_ips.elements)) == (
        ("ipv4_addr", "inet_proto", "inet_service"), True, 10)
    assert service_ips.elements[("10.96.0.10", "udp", "53")] == NftVerdict(
        VerdictKind.GOTO, "service-FY5PMXPG-kube-system/kube-dns/udp/dns")
    assert not any(r.unknown for c in ruleset.chains.values() for r in c.rules)


def test_a_broken_line_names_its_number():
    with pytest.raises(ValueError, match=r"^line 2: cannot read 'add rule ip kube-proxy nowhere drop'"):
        NftRuleset.parse('add table ip kube-proxy { comment "x" ; }\nadd rule ip kube-proxy nowhere drop\n')


# --- evaluation ---------------------------------------------------------------------------------------------

def run(cluster: Cluster, node: str, hook: Hook, src: str, dst: str, proto: str = "tcp", in_dev: str | None = None,
        out_dev: str | None = None, backend: str | None = None, mark: int = 0):
    from webapp.engine.rulesets import node_nft_table

    packet = Packet(SocketAddress.parse(src), SocketAddress.parse(dst), proto)
    ctx = PacketContext(packet, node, in_dev, out_dev, mark, IPv4Address(backend) if backend else None)
    return traverse(node_nft_table(cluster, node), hook, ctx)


DNS_SERVICE = "service-FY5PMXPG-kube-system/kube-dns/udp/dns"
DNS_EP_4 = "endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53"
DNS_EP_5 = "endpoint-5OQ6UJ5V-kube-system/kube-dns/udp/dns__10.244.1.5/53"


def test_pod_to_cluster_ip_is_dnated_to_one_of_the_endpoints():
    out = run(load_sample("seed-article"), "node-1", Hook.PREROUTING, "10.244.1.2:40000", "10.96.0.10:53", "udp",
              "docker0", backend="10.244.1.5")
    assert (out.verdict, str(out.packet), out.mark, out.reason) == (
        Verdict.ACCEPT, "udp 10.244.1.2:40000 → 10.244.1.5:53", 0, None)
    assert [(h.device, str(h.action), h.rule) for h in out.hops] == [
        ("nftables", "lookup", f"kube-proxy service-ips: 10.96.0.10 . udp . 53 : goto {DNS_SERVICE}"),
        ("nftables", "lookup", f"kube-proxy {DNS_SERVICE}: numgen random mod 2 vmap "
                               f"{{ 0 : goto {DNS_EP_4} , 1 : goto {DNS_EP_5} }}"),
        ("nftables", "dnat", f"kube-proxy {DNS_EP_5}: meta l4proto udp dnat to 10.244.1.5:53"),
    ]
    assert [a.to_dict() for a in out.hops[1].alternatives] == [
        {"dst": "10.244.1.4:53", "probability": 0.5, "rule": DNS_EP_4},
        {"dst": "10.244.1.5:53", "probability": 0.5, "chosen": True, "rule": DNS_EP_5},
    ]
    assert out.hops[0].explain == (
        "services looks 10.96.0.10 . udp . 53 up in verdict map service-ips (10 element(s)): one hash lookup, "
        f"however many services there are; the element sends the packet to {DNS_SERVICE}.")
    assert out.hops[1].explain == (
        f"nat-prerouting → services → {DNS_SERVICE}: {DNS_SERVICE} picks one of 2 endpoint chain(s) with numgen "
        "random mod 2 (each equally likely); this trace follows 10.244.1.5:53.")
    assert out.hops[2].explain == (
        f"{DNS_EP_5} rewrites the destination 10.96.0.10:53 → 10.244.1.5:53. 10.96.0.10 is the cluster IP of "
        "kube-system/kube-dns: a virtual address no interface owns, which exists only in these rules.")


def test_without_a_preferred_backend_the_first_endpoint_chain_is_followed():
    out = run(load_sample("seed-article"), "node-1", Hook.PREROUTING, "10.244.1.2:40000", "10.96.0.10:53", "udp",
              "docker0")
    assert str(out.packet.dst) == "10.244.1.4:53"
    assert [a.chosen for a in out.hops[1].alternatives] == [True, False]


def test_hairpin_marks_for_masquerade_and_postrouting_masquerades():
    seed = load_sample("seed-article")
    out = run(seed, "node-1", Hook.PREROUTING, "10.244.1.2:40000", "10.96.0.13:80", "tcp", "docker0")
    web_ep = "endpoint-WZUVD3EN-default/web/tcp/http__10.244.1.2/80"
    assert (str(out.packet), out.mark) == ("tcp 10.244.1.2:40000 → 10.244.1.2:80", 0x4000)
    assert [(str(h.action), h.rule) for h in out.hops][2] == (
        "mark", f"kube-proxy {web_ep}: ip saddr 10.244.1.2 jump mark-for-masquerade")
    assert out.hops[2].explain == (f"{web_ep} sends the packet to mark-for-masquerade, which sets mark 0x4000: it "
                                   "will be masqueraded on the way out (chain masquerading).")
    post = run(seed, "node-1", Hook.POSTROUTING, "10.244.1.2:40000", "10.244.1.2:80", "tcp", "docker0", "docker0",
               mark=out.mark)
    assert (post.verdict, str(post.packet), post.mark) == (Verdict.ACCEPT, "tcp 10.244.1.1:25943 → 10.244.1.2:80", 0)
    assert [(str(h.action), h.rule) for h in post.hops] == [("masquerade", "kube-proxy masquerading: masquerade fully-random")]
    assert post.hops[0].explain == (
        "masquerading masquerades: the source becomes 10.244.1.1, the address of docker0; conntrack will undo it on "
        "the reply. fully-random: the kernel maps the source port anew for every connection (1024–65535); this trace "
        "shows 40000 → 25943, one such draw.")
    assert run(seed, "node-1", Hook.POSTROUTING, "10.244.1.2:40000", "10.244.2.2:80", "tcp", "docker0",
               "vxlanc0a8000c").hops == ()


def test_the_node_itself_to_a_cluster_ip_is_marked_by_the_service_chain():
    out = run(load_sample("seed-article"), "node-1", Hook.OUTPUT, "192.168.0.11:40000", "10.96.0.13:80")
    assert [(str(h.action), h.rule) for h in out.hops][1] == (
        "mark", "kube-proxy service-SUSTUHLJ-default/web/tcp/http: ip daddr 10.96.0.13 ip saddr != 10.244.0.0/16 "
                "jump mark-for-masquerade")
    assert (str(out.packet), out.mark) == ("tcp 192.168.0.11:40000 → 10.244.1.2:80", 0x4000)


def test_a_service_without_endpoints_rejects_in_filter_forward():
    cluster = service_cluster(endpoints=0)
    pre = run(cluster, "node-1", Hook.PREROUTING, "10.244.0.2:40000", "10.96.0.20:80", "tcp", "cni0")
    assert (pre.verdict, pre.hops, str(pre.packet.dst)) == (Verdict.ACCEPT, (), "10.96.0.20:80")
    out = run(cluster, "node-1", Hook.FORWARD, "10.244.0.2:40000", "10.96.0.20:80", "tcp", "cni0", "flannel.1")
    reason = ("no-endpoint-services rejects it (icmp-port-unreachable): service default/web:http has no ready "
              "endpoints — no ready pod matches its selector app=web")
    assert (out.verdict, out.reason) == (Verdict.REJECT, reason)
    assert [(str(h.action), h.rule, h.explain) for h in out.hops] == [
        ("reject", 'kube-proxy no-endpoint-services: 10.96.0.20 . tcp . 80 comment "default/web:http" : goto '
                   "reject-chain", reason)]


def test_a_port_the_cluster_ip_does_not_serve_is_rejected_and_an_unallocated_one_dropped():
    """proxier_test.go TestClusterIPGeneral: "svc1 does not accept svc2's ports" REJECT, "packet to unallocated
    cluster ip" DROP."""
    seed = load_sample("seed-article")
    out = run(seed, "node-1", Hook.FORWARD, "10.244.1.2:40000", "10.96.0.10:54", "udp", "docker0", "eth0")
    assert (out.verdict, [h.rule for h in out.hops], out.reason) == (
        Verdict.REJECT, ['kube-proxy cluster-ips-check: ip daddr @cluster-ips reject comment "Reject traffic to '
                         'invalid ports of ClusterIPs"'],
        "cluster-ips-check rejects it: 10.96.0.10 is a cluster IP, but none of its service ports is 54/UDP (set "
        "cluster-ips)")
    out = run(seed, "node-1", Hook.FORWARD, "10.244.1.2:40000", "10.96.0.99:80", "tcp", "docker0", "eth0")
    assert (out.verdict, out.reason) == (
        Verdict.DROP, "cluster-ips-check drops it: 10.96.0.99 is in the service CIDR, but no service has it as its "
                      "cluster IP")


FIREWALL = "firewall-SUSTUHLJ-default/web/tcp/http"


def test_a_source_outside_load_balancer_source_ranges_is_dropped_before_dnat():
    out = run(lb_cluster(), "node-1", Hook.PREROUTING, "203.0.113.200:40000", "203.0.113.100:80", "tcp", "eth0")
    reason = (f"{FIREWALL} drops it: default/web admits only loadBalancerSourceRanges 203.0.113.0/25, 192.168.0.0/24 "
              "to its load balancer IP 203.0.113.100, and 203.0.113.200 is outside them")
    assert (out.verdict, out.reason, str(out.packet.dst)) == (Verdict.DROP, reason, "203.0.113.100:80")
    assert [(str(h.action), h.rule) for h in out.hops] == [
        ("lookup", f"kube-proxy firewall-ips: 203.0.113.100 . tcp . 80 : goto {FIREWALL}"),
        ("drop", f"kube-proxy {FIREWALL}: ip saddr != {{ 203.0.113.0/25 , 192.168.0.0/24 , 203.0.113.100 }} drop"),
    ]


def test_an_admitted_source_reaches_the_local_endpoint_with_its_address_kept():
    out = run(lb_cluster(), "node-1", Hook.PREROUTING, "203.0.113.10:40000", "203.0.113.100:80", "tcp", "eth0")
    assert (out.verdict, str(out.packet), out.mark) == (Verdict.ACCEPT, "tcp 203.0.113.10:40000 → 10.244.0.3:80", 0)
    assert [h.rule for h in out.hops] == [
        f"kube-proxy firewall-ips: 203.0.113.100 . tcp . 80 : goto {FIREWALL}",
        "kube-proxy service-ips: 203.0.113.100 . tcp . 80 : goto external-SUSTUHLJ-default/web/tcp/http",
        "kube-proxy local-SUSTUHLJ-default/web/tcp/http: numgen random mod 1 vmap "
        "{ 0 : goto endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80 }",
        "kube-proxy endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80: meta l4proto tcp dnat to 10.244.0.3:80",
    ]
    assert [a.to_dict() for a in out.hops[2].alternatives] == [
        {"dst": "10.244.0.3:80", "probability": 1.0, "chosen": True,
         "rule": "endpoint-VX4NZN2A-default/web/tcp/http__10.244.0.3/80"}]


def test_local_policy_without_a_local_endpoint_drops_outside_traffic_to_the_node_port():
    lb = lb_cluster()
    pre = run(lb, "node-2", Hook.PREROUTING, "203.0.113.10:40000", "192.168.0.12:30080", "tcp", "eth0")
    assert (pre.verdict, str(pre.packet.dst), [h.rule for h in pre.hops]) == (
        Verdict.ACCEPT, "192.168.0.12:30080",
        ["kube-proxy service-nodeports: tcp . 30080 : goto external-SUSTUHLJ-default/web/tcp/http"])
    out = run(lb, "node-2", Hook.INPUT, "203.0.113.10:40000", "192.168.0.12:30080", "tcp", "eth0")
    reason = ("no-endpoint-nodeports drops it: service default/web:http has no endpoint on this node and its "
              "traffic policy is Local")
    assert (out.verdict, out.reason, [h.rule for h in out.hops]) == (
        Verdict.DROP, reason, ['kube-proxy no-endpoint-nodeports: tcp . 30080 comment "default/web:http" : drop'])


def test_local_policy_short_circuits_pods_to_the_cluster_chain():
    """A pod on node-2 (no local endpoint) reaching the nodePort is sent through service-… (all endpoints)."""
    out = run(lb_cluster(), "node-2", Hook.PREROUTING, "10.244.1.2:40000", "192.168.0.12:30080", "tcp", "cni0")
    assert (str(out.packet.dst), out.mark) == ("10.244.0.3:80", 0)
    assert out.hops[1].rule.startswith("kube-proxy service-SUSTUHLJ-default/web/tcp/http: numgen random mod 1 vmap")


def test_session_affinity_is_named_on_the_draw():
    cluster = service_cluster(session_affinity=SessionAffinity.CLIENT_IP, session_affinity_timeout=600)
    out = run(cluster, "node-1", Hook.PREROUTING, "10.244.0.2:40000", "10.96.0.20:80", "tcp", "cni0")
    assert out.hops[1].explain.endswith(
        "this trace follows 10.244.0.3:80. sessionAffinity ClientIP: the chosen endpoint chain adds this client to its "
        "affinity set (update @affinity-…); its next connections match the ip saddr @affinity-… rules above and skip "
        "the draw.")
    assert str(out.packet.dst) == "10.244.0.3:80"


# --- the CLI ------------------------------------------------------------------------------------------------

def test_rules_command_prints_the_transaction_and_the_listing(capsys):
    from webapp.cli import main

    assert main(["rules", "--sample", "seed-article", "--node", "node-1", "--mode", "nftables"]) == 0
    out = capsys.readouterr().out
    assert out == ("# nft -f input: table ip kube-proxy as kube-proxy (nftables mode) leaves it after a full sync\n"
                   + SEED_NODE_1)
    assert main(["rules", "--sample", "seed-article", "--node", "node-1", "--mode", "nftables", "--format",
                 "list"]) == 0
    assert capsys.readouterr().out == ("# nft list table ip kube-proxy\n"
                                       + render_nft_list(load_sample("seed-article"), "node-1"))
    assert main(["rules", "--sample", "seed-article", "--node", "node-1", "--format", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: --format list shows nftables mode's table; kube-proxy mode here is iptables\n")


def test_render_node_rules_follows_the_cluster_mode():
    cluster = replace(load_sample("seed-article"), settings=replace(load_sample("seed-article").settings,
                                                                    kube_proxy_mode=KubeProxyMode.NFTABLES))
    assert render_node_rules(cluster, "node-1").endswith(SEED_NODE_1)


# --- the kernel ---------------------------------------------------------------------------------------------

KERNEL = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="needs root (a throwaway network namespace), iproute2's ip and Debian's nftables package (nft)")


class Namespace:
    """A throwaway network namespace `knvt-…`, deleted on exit."""

    def __enter__(self) -> Namespace:
        self.name = f"knvt-{uuid.uuid4().hex[:10]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=True)

    def nft(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, "nft", *args], input=stdin, capture_output=True,
                              text=True, timeout=120)


def nft_check(text: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "kube-proxy.nft"
    path.write_text(text)
    with Namespace() as ns:
        return ns.nft("-c", "-f", str(path))


SAMPLE_NODES = [(s.name, n.name) for s in list_samples() for n in load_sample(s.name).nodes]


@KERNEL
@pytest.mark.parametrize(("sample", "node"), SAMPLE_NODES)
def test_nft_accepts_every_samples_ruleset(sample, node, tmp_path):
    done = nft_check(render_nft_transaction(load_sample(sample), node), tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


@KERNEL
@pytest.mark.parametrize("name", ["lb", "upstream", "hostile", "hostile-without-endpoints"])
def test_nft_accepts_the_policy_source_range_and_affinity_rulesets(name, tmp_path):
    from test_kubeproxy_iptables import hostile_cluster

    cluster, node = {"lb": (lb_cluster(), "node-2"), "upstream": (upstream_overall_cluster(), "test-node"),
                     "hostile": (hostile_cluster(), "node-1"),
                     "hostile-without-endpoints": (hostile_cluster(endpoints=0), "node-1")}[name]
    done = nft_check(render_nft_transaction(cluster, node), tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


@KERNEL
def test_nft_accepts_a_generated_1000_service_cluster(tmp_path):
    from benchmarks.generate_cluster import dump_json, generate_dump
    from webapp.loaders import load_sources

    result = load_sources([("dump.json", dump_json(generate_dump(100, pods_per_node=21, services_per_node=10))
                            .encode())])
    cluster = result.cluster
    assert len([s for s in cluster.services if s.cluster_ip is not None]) == 1001
    text = render_nft_transaction(cluster, cluster.nodes[0].name)
    assert text.count(" : goto service-") == 1003  # kube-dns has three ports
    done = nft_check(text, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def sorted_elements(listing: str) -> str:
    """`nft list` output with every `elements = { … }` block's items sorted: the kernel lists hash-set
    elements in its own order."""
    def one(found: re.Match) -> str:
        return "elements = { " + ", ".join(sorted(re.split(r",\s+", found[1]))) + " }"
    return re.sub(r"elements = \{ (.*?) \}", one, listing, flags=re.DOTALL)


@KERNEL
@pytest.mark.parametrize("name", ["seed", "lb", "upstream"])
def test_the_loaded_table_lists_back_as_rendered(name, tmp_path):
    cluster, node = {"seed": (load_sample("seed-article"), "node-1"), "lb": (lb_cluster(), "node-2"),
                     "upstream": (upstream_overall_cluster(), "test-node")}[name]
    path = tmp_path / "kube-proxy.nft"
    path.write_text(render_nft_transaction(cluster, node))
    with Namespace() as ns:
        loaded = ns.nft("-f", str(path))
        assert (loaded.returncode, loaded.stderr) == (0, "")
        listed = ns.nft("list", "table", "ip", "kube-proxy")
    assert listed.returncode == 0
    assert sorted_elements(listed.stdout) == sorted_elements(render_nft_list(cluster, node))
    relist = tmp_path / "listed.nft"
    relist.write_text(listed.stdout)
    with Namespace() as ns:  # what `nft list` printed is itself a ruleset nft reads back
        again = ns.nft("-f", str(relist))
        assert (again.returncode, again.stderr) == (0, "")
        assert sorted_elements(ns.nft("list", "table", "ip", "kube-proxy").stdout) == sorted_elements(listed.stdout)


# --- input ----------------------------------------------------------------------------------------------------

def test_kube_proxy_configuration_mode_nftables_is_read():
    from webapp.loaders import load_sources

    text = b"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clusterCIDR: 10.60.0.0/16
"""
    result = load_sources([("kp.yaml", text)])
    assert result.errors == ()
    assert result.cluster.settings.kube_proxy_mode == KubeProxyMode.NFTABLES


def test_cluster_yaml_kube_proxy_nftables_is_read_and_a_wrong_mode_names_nftables():
    from webapp.loaders import load_sources

    good = load_sources([("c.yaml", b"network: {kubeProxy: nftables}\nnodes: [{name: n1}]\n")])
    assert good.cluster.settings.kube_proxy_mode == KubeProxyMode.NFTABLES
    bad = load_sources([("kp.yaml", b"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                                    b"mode: ebpf\n")])
    assert [str(p) for p in bad.errors] == [
        "kp.yaml:3:7: error: kube-proxy mode 'ebpf' is not supported (mode) (hint: use iptables, ipvs, userspace, "
        "nftables)"]


# --- iptables and nftables agree ----------------------------------------------------------------------------

def hook_outcome(cluster: Cluster, node: str, evaluate, ruleset, packet: Packet, in_dev: str):
    """PREROUTING, then INPUT (to the node's own address) or FORWARD: the verdict, every candidate endpoint
    the load-balancing hop offered, where PREROUTING sent the packet, and the mark."""
    pre = evaluate(ruleset, Hook.PREROUTING, PacketContext(packet, node, in_dev, None))
    hops, verdict = list(pre.hops), pre.verdict
    if verdict == Verdict.ACCEPT:
        local = pre.packet.dst.ip == cluster.node_by_name[node].internal_ip
        post = evaluate(ruleset, Hook.INPUT if local else Hook.FORWARD,
                        PacketContext(pre.packet, node, in_dev, None if local else "eth0", pre.mark))
        hops, verdict = hops + list(post.hops), post.verdict
    return str(verdict), sorted({str(a.dst) for h in hops for a in h.alternatives}), str(pre.packet.dst), pre.mark


def service_packets(cluster: Cluster, node: str):
    """A pod of the node to every cluster IP; an outside client to every nodePort, external IP and LB IP."""
    pod = next((p for p in cluster.pods_by_node.get(node, ()) if not p.host_network), None)
    client = IPv4Address("203.0.113.10")
    nic = cluster.node_by_name[node].nic
    for info in service_ports(cluster, node):
        svc, port, proto = info.service, info.port.port, info.protocol
        if pod is not None:
            yield Packet(SocketAddress(pod.pod_ip, 40000), SocketAddress(svc.cluster_ip, port), proto), str(
                cluster.settings.bridge)
        if info.node_port:
            node_ip = cluster.node_by_name[node].internal_ip
            yield Packet(SocketAddress(client, 40000), SocketAddress(node_ip, info.node_port), proto), nic
        for vip in (*svc.external_ips, *info.load_balancer_ips):
            yield Packet(SocketAddress(client, 40000), SocketAddress(vip, port), proto), nic


def test_iptables_and_nftables_decide_every_service_packet_alike():
    """At the hooks, before the walk uses nftables: for every sample (and each with externalTrafficPolicy Local),
    a cluster with Local/Cluster policies, affinity, externalIPs, internalTrafficPolicy Local and an empty
    service, a LoadBalancer with source ranges and a service without endpoints — the same verdict, the same
    candidate endpoints, the same destination after PREROUTING and the same mark in both modes."""
    from test_kubeproxy_lab import POLICIES
    from webapp.engine import netfilter, nft
    from webapp.engine.policy import with_network_plugin
    from webapp.engine.rulesets import node_nft_table, node_ruleset
    from webapp.loaders import load_sources
    from webapp.variants import ViewSettings, apply_view_settings

    clusters = [load_sample(s.name) for s in list_samples()]
    clusters += [apply_view_settings(c, ViewSettings(None, None, TrafficPolicy.LOCAL, frozenset())) for c in clusters]
    clusters += [load_sources([("policies.yaml", POLICIES.encode())]).cluster, lb_cluster(),
                 service_cluster(endpoints=0)]
    # kube-proxy's decisions alone: an enforcing plugin's NetworkPolicy chains (policy-shop's Canal) sit in the
    # iptables filter table beside kube-proxy's, and decide pod traffic in either mode (tests/test_policy_walk.py)
    clusters = [with_network_plugin(c, "flannel") for c in clusters]
    compared, differ, seen = 0, [], set()
    for cluster in clusters:
        for node in cluster.nodes:
            rulesets = (node_ruleset(cluster, node.name), node_nft_table(cluster, node.name))
            for packet, in_dev in service_packets(cluster, node.name):
                compared += 1
                ipt = hook_outcome(cluster, node.name, netfilter.traverse, rulesets[0], packet, in_dev)
                nft_ = hook_outcome(cluster, node.name, nft.traverse, rulesets[1], packet, in_dev)
                if ipt != nft_:
                    differ.append((cluster.name, node.name, str(packet), ipt, nft_))
                seen.add((ipt[0], len(ipt[1]) > 1, ipt[3]))
    assert (compared, differ) == (254, [])
    # every kind of outcome occurs: delivered to one of several endpoints (marked or not), refused
    assert seen >= {("accept", True, 0), ("accept", True, 0x4000), ("drop", False, 0), ("reject", False, 0)}


SERVICE_FLOWS = (FlowType.POD_TO_SERVICE, FlowType.NODE_TO_SERVICE, FlowType.NODEPORT, FlowType.LOADBALANCER,
                 FlowType.EXTERNALNAME, FlowType.EXTERNALIPS)


def test_service_traces_match_across_modes():
    """Every service flow of every sample (and of each with externalTrafficPolicy Local), traced whole by the
    walk: iptables mode and nftables mode end in the same disposition with the same set of candidate endpoints.
    There is no exception."""
    from webapp.engine.flows import candidate_flows, trace_flow
    from webapp.variants import ViewSettings, apply_view_settings

    def outcome(trace):
        return str(trace.disposition), sorted({str(a.dst) for hop in trace.hops for a in hop.alternatives})

    compared, differ, kinds = 0, [], Counter()
    for sample in list_samples():
        for policy in (None, TrafficPolicy.LOCAL):
            cluster = load_sample(sample.name)
            iptables, nftables = (apply_view_settings(cluster, ViewSettings(mode, None, policy))
                                  for mode in (KubeProxyMode.IPTABLES, KubeProxyMode.NFTABLES))
            flows = candidate_flows(iptables)
            assert candidate_flows(nftables) == flows
            for flow_type in SERVICE_FLOWS:
                for src, dst in flows.get(flow_type, ()):
                    compared += 1
                    ipt, nft_ = outcome(trace_flow(iptables, src, dst)), outcome(trace_flow(nftables, src, dst))
                    if ipt != nft_:
                        differ.append((sample.name, policy, src, dst, ipt, nft_))
                    kinds[ipt[0], len(ipt[1])] += 1
    assert (compared, differ) == (834, [])
    # every offered service flow is delivered, but for policy-shop's that Canal's NetworkPolicy chains drop in both
    # modes alike (the drops and rejects of kube-proxy's own rules are compared at the hooks above)
    assert kinds == {("delivered", 1): 226, ("delivered", 2): 486, ("delivered", 3): 57, ("delivered", 4): 1,
                     ("dropped", 1): 26, ("dropped", 2): 38}


def test_a_hostile_service_name_is_written_as_one_nft_token_and_one_string():
    """A name with a newline, a quote and a space: chain names keep the hash of the real name and write the name
    with `_` for what nft's identifiers cannot hold; comments turn `"` into `'` and the newline into a space."""
    from test_kubeproxy_iptables import HOSTILE, hostile_cluster
    from webapp.engine.kubeproxy.nftables import in_name, in_string
    from webapp.engine.rulesets import node_nft_table

    assert in_name(f"default/{HOSTILE}/tcp/http") == "default/we_b__-A_KUBE-SERVICES_-j_ACCEPT__/tcp/http"
    assert in_string(f"default/{HOSTILE}:http") == "default/we b' -A KUBE-SERVICES -j ACCEPT\\':http"
    cluster = hostile_cluster()
    text = render_nft_transaction(cluster, "node-1")
    hashed = hash_and_truncate(f"default/{HOSTILE}/tcp/http")[:8]
    chain = f"service-{hashed}-default/we_b__-A_KUBE-SERVICES_-j_ACCEPT__/tcp/http"
    assert f"add chain ip kube-proxy {chain}" in text.splitlines()
    assert not any(line.startswith("-A") for line in text.splitlines())
    table = node_nft_table(cluster, "node-1")
    assert not any(rule.unknown for c in table.chains.values() for rule in c.rules)
    out = run(cluster, "node-1", Hook.PREROUTING, "10.244.0.2:40000", "10.96.0.20:80", in_dev="cni0")
    assert str(out.packet.dst) in {"10.244.0.3:80", "10.244.1.2:80"}


# --- nodePortAddresses (issue 17) -----------------------------------------------------------------------------

NODEPORT_CHECK = "add rule ip kube-proxy nodeport-endpoints-check "
SERVICES = "add rule ip kube-proxy services "
BY_SET = "ip daddr @nodeport-ips meta l4proto . th dport vmap @"
NODEPORT_SET = 'add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }'
BOTH = "10.180.0.1:80, 10.180.2.1:80"


@pytest.mark.parametrize(("case", "nodeport_lines", "answers"), [
    # pkg/proxy/nftables/proxier_test.go TestNodePorts, case "ipv4" (NewFakeProxier's [192.168.0.2/32]): its flows
    # "pod to cluster IP", "external to nodePort", "node to nodePort", "secondary nodeIP ignores NodePorts"; other
    # local addresses ignore them too.
    ("ipv4", [NODEPORT_SET, f"{NODEPORT_CHECK}{BY_SET}no-endpoint-nodeports", f"{SERVICES}{BY_SET}service-nodeports",
              "add element ip kube-proxy nodeport-ips { 192.168.0.2 }"],
     {"192.168.0.2": (BOTH, True), "192.168.1.2": ("", False), "10.0.1.1": ("", False)}),
    # TestNodePorts "ipv4, multiple nodeport-addresses" [192.168.0.0/24, 192.168.1.0/24]: "external to nodePort on
    # secondary IP" is accepted and masqueraded too.
    ("ipv4, multiple nodeport-addresses",
     [NODEPORT_SET, f"{NODEPORT_CHECK}{BY_SET}no-endpoint-nodeports", f"{SERVICES}{BY_SET}service-nodeports",
      "add element ip kube-proxy nodeport-ips { 192.168.0.2 }", "add element ip kube-proxy nodeport-ips { 192.168.1.2 }"],
     {"192.168.0.2": (BOTH, True), "192.168.1.2": (BOTH, True), "10.0.1.1": ("", False)}),
    # setupNFTables with nodePortAddresses.MatchAll(): no set, `fib daddr type local` minus loopback.
    ("match all", [f"{NODEPORT_CHECK}ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports",
                   f"{SERVICES}fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap "
                   "@service-nodeports"],
     {"192.168.0.2": (BOTH, True), "192.168.1.2": (BOTH, True), "10.0.1.1": (BOTH, True)}),
    # CIDRs that hold flannel.1's 10.0.1.0 and cni0's 10.0.1.1 (GetNodeIPs) and 127.0.0.1 (left out).
    ("pod network only", [NODEPORT_SET, f"{NODEPORT_CHECK}{BY_SET}no-endpoint-nodeports",
                          f"{SERVICES}{BY_SET}service-nodeports",
                          "add element ip kube-proxy nodeport-ips { 10.0.1.0 }",
                          "add element ip kube-proxy nodeport-ips { 10.0.1.1 }"],
     {"192.168.0.2": ("", False), "192.168.1.2": ("", False), "10.0.1.1": (BOTH, True)}),
])
def test_node_port_addresses_shape_the_nodeport_rules(case, nodeport_lines, answers):
    from upstream import EXTERNAL_CLIENT, POD_CLIENT, TEST_NODE, flow, nft_node_ports_cluster

    cluster = nft_node_ports_cluster(case)
    text = render_nft_transaction(cluster, TEST_NODE)
    assert [line for line in lines(text) if "nodeport-ips" in line or line.startswith((NODEPORT_CHECK, SERVICES))
            and "nodeports" in line] == nodeport_lines
    assert flow(cluster, POD_CLIENT, "172.30.0.41:80") == (BOTH, False)
    for address, answer in answers.items():
        assert flow(cluster, EXTERNAL_CLIENT, f"{address}:3001") == answer
        assert flow(cluster, address, f"{address}:3001") == answer  # the node itself (OUTPUT)
    assert flow(cluster, "127.0.0.1", "127.0.0.1:3001") == ("", False)  # localhost nodePorts: iptables mode only


def test_a_trace_to_a_node_port_follows_node_port_addresses():
    """The walk in nftables mode: by default (primary) an outside client's connection to node-1's nodePort is
    DNATed to web's pod; with nodePortAddresses [10.244.0.0/16] the node's own address takes no nodePort, and as no
    process of the node listens on 30080 the kernel refuses the connection."""
    from webapp.engine.flows import trace_flow

    seed = load_sample("seed-article")

    def last_hop(node_port_addresses):
        settings = replace(seed.settings, kube_proxy_mode=KubeProxyMode.NFTABLES,
                           node_port_addresses=node_port_addresses)
        hop = trace_flow(replace(seed, settings=settings), "203.0.113.10", "192.168.0.11:30080").hops[-1]
        return hop.device, hop.explain

    assert last_hop(()) == ("nginx", "nginx receives it from 10.244.1.1:17283 on 10.244.1.2:80.")
    assert last_hop((IPv4Network("10.244.0.0/16"),)) == (
        "eth0", "No process of node node-1 listens on 192.168.0.11 port 30080/TCP (listening: kube-apiserver "
                "6443/TCP, kubelet 10250/TCP, kube-proxy 10256/TCP), so the kernel answers a TCP RST; 30080/TCP is "
                "a nodePort of default/web-nodeport, but kube-proxy does not answer it on 192.168.0.11.")


def test_masquerade_all_marks_every_connection_to_a_cluster_ip():
    """masqueradeAll in nftables mode (pkg/proxy/nftables/proxier.go syncProxyRules, "Set up internal traffic
    handling": `if proxier.masqueradeAll` writes the cluster-IP rule without the local detector's match), on
    TestOverallNFTablesRules' services: a pod's connection is masqueraded too; without it only off-cluster ones."""
    from upstream import EXTERNAL_CLIENT, POD_CLIENT, TEST_NODE, flow, overall_cluster

    cluster = overall_cluster(kube_proxy_mode=KubeProxyMode.NFTABLES, masquerade_all=True)
    svc1 = "service-ULMVA6XW-ns1/svc1/tcp/p80"
    assert [line for line in lines(render_nft_transaction(cluster, TEST_NODE)) if line.startswith(
        f"add rule ip kube-proxy {svc1} ")] == [
        f"add rule ip kube-proxy {svc1} ip daddr 172.30.0.41 jump mark-for-masquerade",
        f"add rule ip kube-proxy {svc1} numgen random mod 1 vmap {{ 0 : goto "
        "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }"]
    assert flow(cluster, POD_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", True)
    assert flow(cluster, EXTERNAL_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", True)
    plain = overall_cluster(kube_proxy_mode=KubeProxyMode.NFTABLES)
    assert flow(plain, POD_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", False)
    assert flow(plain, EXTERNAL_CLIENT, "172.30.0.41:80") == ("10.180.0.1:80", True)


@pytest.mark.parametrize("mode", [KubeProxyMode.IPTABLES, KubeProxyMode.NFTABLES, KubeProxyMode.IPVS])
def test_with_masquerade_all_the_backend_sees_the_node_in_every_mode(mode):
    """A whole trace: api-1's connection to web's cluster IP reaches nginx from api-1's own address, and with
    masqueradeAll from docker0's (the node's address towards the pod), in iptables, nftables and IPVS mode alike
    (IPVS: pkg/proxy/ipvs/proxier.go marks KUBE-CLUSTER-IP matches without `! -s CIDR` under masqueradeAll)."""
    from webapp.engine.flows import trace_flow

    seed = load_sample("seed-article")

    def seen(masquerade_all):
        settings = replace(seed.settings, kube_proxy_mode=mode, masquerade_all=masquerade_all)
        return trace_flow(replace(seed, settings=settings), "pod/default/api-1", "svc/default/web:80").hops[-1].explain

    assert seen(False) == "nginx receives it from 10.244.1.3:51990 on 10.244.1.2:80."
    assert seen(True) == "nginx receives it from 10.244.1.1:32371 on 10.244.1.2:80."


def test_ipvs_masquerade_all_rule():
    from upstream import TEST_NODE, overall_cluster
    from webapp.engine.kubeproxy.ipvs import render_iptables_restore as ipvs_restore

    rule = ('-A KUBE-SERVICES {}-m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" '
            "-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ")
    for masquerade_all, not_local in ((False, "! -s 10.0.0.0/8 "), (True, "")):
        text = ipvs_restore(overall_cluster(kube_proxy_mode=KubeProxyMode.IPVS, masquerade_all=masquerade_all),
                            TEST_NODE)
        assert [line for line in lines(text) if "KUBE-MARK-MASQ" in line and "KUBE-CLUSTER-IP" in line] == [
            rule.format(not_local)]


@KERNEL
@pytest.mark.parametrize("case", ["ipv4", "ipv4, multiple nodeport-addresses", "match all", "pod network only",
                                  "masqueradeAll"])
def test_the_kernel_loads_every_node_port_addresses_shape(case, tmp_path):
    from upstream import TEST_NODE, nft_node_ports_cluster, overall_cluster

    cluster = (overall_cluster(kube_proxy_mode=KubeProxyMode.NFTABLES, masquerade_all=True) if case == "masqueradeAll"
               else nft_node_ports_cluster(case))
    path = tmp_path / "kube-proxy.nft"
    path.write_text(render_nft_transaction(cluster, TEST_NODE))
    with Namespace() as ns:
        checked = ns.nft("-c", "-f", str(path))
        assert (checked.returncode, checked.stderr) == (0, "")
        loaded = ns.nft("-f", str(path))
        assert (loaded.returncode, loaded.stderr) == (0, "")
        listed = ns.nft("list", "table", "ip", "kube-proxy")
    assert sorted_elements(listed.stdout) == sorted_elements(render_nft_list(cluster, TEST_NODE))


# --- iptables-only fields in another mode (issue 17) -------------------------------------------------------------

KUBE_PROXY_NFTABLES = b"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
iptables: {localhostNodePorts: false}
nftables: {masqueradeAll: true}
---
apiVersion: v1
kind: Node
metadata:
  name: n1
  annotations: {k8s-netviz.io/nfacct: "true"}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses: [{type: InternalIP, address: 192.168.0.11}]
"""


def test_iptables_only_fields_in_nftables_mode_are_warned_about():
    """kube-proxy reads iptables.localhostNodePorts in iptables mode only (the flag: "This only applies to iptables
    mode"), and only its iptables proxier writes nfacct counters: set in nftables mode, each gets a warning at its
    place, in English and Chinese. masqueradeAll under `nftables:` is nftables mode's own and is read."""
    from webapp.loaders import load_sources
    from webapp.narration import narration_language

    result = load_sources([("kp.yaml", KUBE_PROXY_NFTABLES)])
    assert result.cluster is not None and result.cluster.settings.masquerade_all
    warnings = [p for p in result.problems if p.severity == "warning"]
    assert [(p.code, str(p)) for p in warnings] == [
        ("W-IPTABLES-ONLY", "kp.yaml:4:32: warning: iptables.localhostNodePorts applies to kube-proxy's iptables mode "
                            "only: in nftables mode it is ignored (iptables.localhostNodePorts)"),
        ("W-IPTABLES-ONLY", "kp.yaml:11:39: warning: nfacct on node n1 has no effect: kube-proxy writes nfacct "
                            "counters in iptables mode only, and this cluster runs it in nftables mode "
                            "(metadata.annotations.k8s-netviz.io/nfacct)")]
    with narration_language("zh"):
        assert [str(p) for p in warnings] == [
            "kp.yaml:4:32: warning: iptables.localhostNodePorts 只对 kube-proxy 的 iptables 模式有效：nftables 模式忽略它 "
            "(iptables.localhostNodePorts)",
            "kp.yaml:11:39: warning: 节点 n1 的 nfacct 不起作用：kube-proxy 只在 iptables 模式下写 nfacct 计数器，而本集群以 "
            "nftables 模式运行它 (metadata.annotations.k8s-netviz.io/nfacct)"]


@pytest.mark.parametrize(("mode", "expected"), [
    ("ipvs", ["c.yaml:1:48: warning: iptables.localhostNodePorts applies to kube-proxy's iptables mode only: in ipvs "
              "mode it is ignored (network.localhostNodePorts)",
              "c.yaml:3:24: warning: nfacct on node n1 has no effect: kube-proxy writes nfacct counters in iptables "
              "mode only, and this cluster runs it in ipvs mode (nodes[0].nfacct)"]),
    ("iptables", []),
])
def test_cluster_yaml_iptables_only_fields_warn_outside_iptables_mode(mode, expected):
    """In our YAML too; `nfacct: false` (nothing to ignore) and iptables mode give no warning."""
    from webapp.loaders import load_sources

    text = (f"network: {{kubeProxy: {mode}, localhostNodePorts: true}}\nnodes:\n  - {{name: n1, nfacct: true}}\n"
            "  - {name: n2, nfacct: false}\n").encode()
    result = load_sources([("c.yaml", text)])
    assert [str(p) for p in result.problems if p.severity == "warning"] == expected
