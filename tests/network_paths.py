"""Which network paths a plan's NetworkPolicies allow, computed from the policies themselves with
Kubernetes' semantics (a pod selected by no policy of a direction is open in it; selected by one or
more, it may do what any of them allows). For a pod without labels: what a team's arbitrary
workload is; the policies the platform writes for team namespaces select every pod (`{}`)."""
from __future__ import annotations

import ipaddress
from typing import Iterable

from hybridai.plan import Resource


def _selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values, "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _port_ok(ports: list[dict] | None, port: int, protocol: str = "TCP") -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        low = p.get("port")  # a number (recorded inputs hold numbers as floats); a named port matches no number here
        if low is None or (isinstance(low, (int, float)) and low <= port <= p.get("endPort", low)):
            return True
    return False


class Network:
    """The NetworkPolicies and Namespaces of one cluster of a plan."""

    def __init__(self, resources: Iterable[Resource]):
        resources = list(resources)
        self.namespaces = {r.inputs["metadata"]["name"]: dict(r.inputs["metadata"].get("labels") or {}) for r in resources if r.custom and r.inputs.get("kind") == "Namespace"}
        for ns, labels in self.namespaces.items():
            labels.setdefault("kubernetes.io/metadata.name", ns)
        self.policies = [r.inputs for r in resources if r.custom and r.inputs.get("kind") == "NetworkPolicy"]

    def _policies(self, namespace: str, direction: str) -> list[dict]:
        return [
            p["spec"] for p in self.policies
            if p["metadata"]["namespace"] == namespace and direction in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p["spec"].get("podSelector"), {})
        ]

    def egress_to_address(self, namespace: str, address: str, port: int) -> bool:
        """A pod of `namespace` may open a TCP connection to `address`:`port` outside the cluster."""
        policies = self._policies(namespace, "Egress")
        if not policies:
            return True
        ip = ipaddress.ip_address(address)
        for spec in policies:
            for rule in spec.get("egress") or []:
                if not _port_ok(rule.get("ports"), port):
                    continue
                peers = rule.get("to")
                if not peers:
                    return True
                for peer in peers:
                    block = peer.get("ipBlock")
                    if block and ip in ipaddress.ip_network(block["cidr"]) and not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
                        return True
        return False

    def _peer_has(self, peers: list[dict] | None, own: str, other: str) -> bool:
        """`peers` of a rule of a policy in namespace `own` include a label-less pod of namespace `other`."""
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                continue  # pod traffic inside the cluster is matched by selectors, not ipBlock, here
            ns_selector = peer.get("namespaceSelector")
            in_ns = own == other if ns_selector is None else _selects(ns_selector, self.namespaces.get(other, {}))
            if in_ns and _selects(peer.get("podSelector"), {}):
                return True
        return False

    def pod_path(self, source: str, destination: str, port: int = 8080) -> bool:
        """A label-less pod of `source` may connect to a label-less pod of `destination` on `port`:
        the source's egress and the destination's ingress both allow it."""
        egress = self._policies(source, "Egress")
        out = not egress or any(self._peer_has(r.get("to"), source, destination) and _port_ok(r.get("ports"), port) for s in egress for r in s.get("egress") or [])
        ingress = self._policies(destination, "Ingress")
        into = not ingress or any(self._peer_has(r.get("from"), destination, source) and _port_ok(r.get("ports"), port) for s in ingress for r in s.get("ingress") or [])
        return out and into
