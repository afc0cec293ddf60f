"""Every sentence the web page shows, in one place, keyed by message id. English now; a later issue adds Chinese
beside it (`CATALOGS["zh"]`), so callers always go through `text(key, **fields)`."""

from __future__ import annotations

from typing import Mapping

ENGLISH: Mapping[str, str] = {
    "app.title": "k8s-netviz",
    "app.tagline": "how packets really travel through a Kubernetes cluster",
    "header.cluster": "Cluster",
    "header.sample": "Sample",
    "header.sample.placeholder": "choose a sample…",
    "upload.prompt": "Drop YAML/JSON files here or click to upload",
    "upload.paste.summary": "Paste YAML",
    "upload.paste.placeholder": "Paste a cluster YAML or Kubernetes manifests here…",
    "upload.paste.button": "Load pasted YAML",
    "upload.paste.name": "pasted.yaml",
    "upload.too_big": ("{file} is {size} MB, over this server's upload limit of {limit} MB. To load it, restart the "
                       "server with a larger limit: k8s-netviz serve --max-upload-mb N"),
    "upload.request_too_big": ("The upload ({size} MB as sent) is over this server's request limit of {limit} MB. "
                               "Upload fewer files at once, or restart the server with a larger --max-upload-mb"),
    "upload.not_base64": "{file}: the upload could not be decoded",
    "upload.empty": "Nothing to load: the paste box is empty",
    "upload.kept": "The cluster on screen was kept as it was.",
    "upload.loaded": "Loaded {file_count} file(s): {pods} pods on {nodes} nodes, {services} services.",
    "upload.warnings": "{count} warning(s)",
    "cache.expired": "That cluster is no longer in the server cache; load it again.",
    "flow.type": "Communication",
    "flow.src": "From",
    "flow.dst": "To",
    "flow.none": "No flow of this kind exists in this cluster.",
    "flow.pick": "Pick a communication type, a source and a destination.",
    "flow.error": "Could not trace {src} → {dst}: {error}",
    "flowtype.container-to-container": "Container to container (same pod)",
    "flowtype.pod-to-pod-same-node": "Pod to pod, same node",
    "flowtype.pod-to-pod-cross-node": "Pod to pod, across nodes",
    "flowtype.pod-to-service": "Pod to Service (ClusterIP)",
    "flowtype.nodeport": "NodePort",
    "flowtype.loadbalancer": "LoadBalancer",
    "flowtype.externalname": "ExternalName",
    "flowtype.externalips": "ExternalIPs",
    "flowtype.pod-to-external": "Pod to external",
    "flowtype.node-to-pod": "Node to pod",
    "flowtype.pod-to-node": "Pod to node",
    "flowtype.node-to-service": "Node to Service",
    "flowtype.external-to-pod": "External to pod",
    "flowtype.host-network": "hostNetwork: node to node",
    "player.play": "▶ Play",
    "player.pause": "❚❚ Pause",
    "player.back": "◀ Step",
    "player.forward": "Step ▶",
    "player.restart": "⟲ Restart",
    "player.speed": "Speed",
    "player.keys": "Keys: → / ← step · space play/pause · p presentation mode",
    "player.present": "Presentation mode (p)",
    "settings.title": "What if…",
    "settings.mode": "kube-proxy mode",
    "settings.overlay": "Overlay",
    "settings.policy": "externalTrafficPolicy",
    "settings.down": "Backend pods marked down",
    "settings.cluster_value": "as loaded ({value})",
    "view.title": "View",
    "view.namespace": "Namespace",
    "view.namespace.all": "all namespaces",
    "view.search": "Find a pod by name, IP or label (key=value)",
    "view.search.found": "Found {pod} on {node} ({ip})",
    "view.search.none": "No pod matches “{query}”",
    "view.overview": "Overview: {nodes} nodes, {pods} pods. Click a node to expand it.",
    "hops.title": "Hops",
    "hops.request": "Request",
    "hops.reply": "Reply",
    "inspector.title": "Packet",
    "inspector.inner": "Inner headers (L3/L4)",
    "inspector.outer": "Outer headers (VXLAN/UDP/IP)",
    "inspector.nat": "Address translation at this hop",
    "inspector.rule": "Decided by",
    "inspector.alternatives": "Candidate endpoints",
    "inspector.chosen": "chosen",
    "inspector.alternatives.shared": "All through",
    "inspector.where": "{kind} · {action} at {device} ({where})",
    "inspector.none": "Pick a flow and press play.",
    "badge.no_nat": "No NAT: pod addresses seen end to end (the seed's principles hold)",
    "badge.nat": "NAT on the way: {count} address change(s), not the seed's no-NAT model",
    "verdict.delivered": "Delivered",
    "verdict.dropped": "Dropped: {reason}",
    "verdict.rejected": "Rejected: {reason}",
    "verdict.no-route": "No route: {reason}",
    "error.callback": "Something went wrong ({error}). The page kept its last good state.",
    "error.dismiss": "dismiss",
}

CATALOGS: Mapping[str, Mapping[str, str]] = {"en": ENGLISH}
DEFAULT_LANGUAGE = "en"


def text(key: str, language: str = DEFAULT_LANGUAGE, **fields: object) -> str:
    """The message `key` in `language` (falling back to English), with `fields` filled in."""
    catalog = CATALOGS.get(language, ENGLISH)
    template = catalog.get(key) or ENGLISH[key]
    return template.format(**fields) if fields else template


def flow_type_label(flow_type: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The picker label of a FlowType value; the value itself when the catalogue does not know it."""
    key = f"flowtype.{flow_type}"
    return text(key, language) if key in CATALOGS.get(language, ENGLISH) or key in ENGLISH else flow_type
