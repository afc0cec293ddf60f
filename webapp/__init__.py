"""k8s-netviz: how packets really travel through a Kubernetes cluster."""

__version__ = "0.1.0"
