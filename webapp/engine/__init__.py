"""The path engine: topology, datapath tables, kube-proxy rules and the hop-by-hop walk. Never imports dash."""
