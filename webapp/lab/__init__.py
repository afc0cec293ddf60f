"""The lab: the loaded cluster's datapath built in real Linux network namespaces on this machine
(`k8s-netviz lab up|verify|down`), and the engine's traces replayed against the kernel.

Everything the lab makes lives in network namespaces whose names carry the lab's prefix (`knv<id>-`);
nothing is ever added to the host's own namespace, routes or iptables.
"""
