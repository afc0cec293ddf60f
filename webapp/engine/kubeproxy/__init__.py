"""The rules kube-proxy programs on a node: iptables mode (`iptables`), IPVS mode (`ipvs`, with ipsets) and the
legacy userspace mode (`userspace`). `chains` holds the chain-name hashing and the per-node endpoint choice
shared by all three."""
