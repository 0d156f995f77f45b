"""Synthetic but realistic Kubernetes objects, for the demo snapshots, benchmarks and tests.

Objects look like ``kubectl get -o json`` output (labels, owner references,
conditions, container statuses); with ``bulky=True`` pods carry managedFields
and env so they weigh ~5 KB like real ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

Obj = dict[str, Any]


def _uid(*parts: str) -> str:
    h = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _meta(kind: str, name: str, namespace: str | None = None, created: str = "2026-09-01T08:00:00Z",
          **extra: Any) -> Obj:
    md: Obj = {"name": name, "uid": _uid(kind, namespace or "", name), "resourceVersion": "48213",
               "creationTimestamp": created}
    if namespace is not None:
        md["namespace"] = namespace
    md.update({k: v for k, v in extra.items() if v})
    return md


def _cond(kind: str, status: bool, reason: str = "", message: str = "",
          at: str = "2026-11-25T10:00:00Z") -> Obj:
    c: Obj = {"type": kind, "status": "True" if status else "False", "lastTransitionTime": at}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def node(name: str, ip: str, pod_cidr: str | None, *, ready: bool = True, ready_message: str = "",
         distro: str = "rke2", control_plane: bool = False, provider_id: str = "",
         network_unavailable: bool = False) -> Obj:
    version = {"rke2": "v1.30.6+rke2r1", "k3s": "v1.30.6+k3s1"}.get(distro, "v1.30.6")
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = "true"
    annotations = {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"} \
        if distro == "kubeadm" else {"rke2.io/node-args": '["agent"]'} if distro == "rke2" else {}
    spec: Obj = {"providerID": provider_id or f"{distro}://{name}"}
    if pod_cidr:
        spec.update(podCIDR=pod_cidr, podCIDRs=[pod_cidr])
    conditions = [
        _cond("NetworkUnavailable", network_unavailable,
              "NoRouteCreated" if network_unavailable else "FlannelIsUp"),
        _cond("MemoryPressure", False, "KubeletHasSufficientMemory"),
        _cond("DiskPressure", False, "KubeletHasNoDiskPressure"),
        _cond("PIDPressure", False, "KubeletHasSufficientPID"),
        _cond("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
              ready_message or ("kubelet is posting ready status" if ready else "")),
    ]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": _meta("Node", name, labels=labels, annotations=annotations),
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "4", "memory": "16184744Ki", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "16287144Ki", "pods": "110"},
            "conditions": conditions,
            "nodeInfo": {"kubeletVersion": version, "containerRuntimeVersion": "containerd://1.7.22-k3s1",
                         "osImage": "Ubuntu 22.04.5 LTS", "kernelVersion": "5.15.0-125-generic"},
        },
    }


def _managed_fields(manager: str) -> list[Obj]:
    fields: Obj = {f"f:{k}": {} for k in ("metadata", "spec", "status", "labels", "annotations")}
    kinds = ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready", "PodScheduled")
    nested: Obj = {f'k:{{"type":"{t}"}}': {".": {}, "f:lastProbeTime": {}, "f:status": {}, "f:type": {}}
              for t in kinds}
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": "2026-11-25T09:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {**fields, "f:status": {"f:conditions": nested}}}]


def pod(namespace: str, name: str, node_name: str | None, *, labels: dict[str, str] | None = None,
        owner: tuple[str, str] | None = None, image: str = "nginx:1.27", ip: str = "",
        phase: str = "Running", ready: bool = True, waiting: tuple[str, str] | None = None,
        restarts: int = 0, host_network: bool = False, ports: list[Obj] | None = None,
        container_name: str = "", bulky: bool = False) -> Obj:
    refs = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": _uid(*owner),
             "controller": True, "blockOwnerDeletion": True}] if owner else []
    if not container_name:
        container_name = owner[1] if owner and owner[0] == "DaemonSet" else \
            owner[1].rsplit("-", 1)[0] if owner else name
    container: Obj = {"name": container_name, "image": image,
                      "imagePullPolicy": "IfNotPresent",
                      "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                      "terminationMessagePath": "/dev/termination-log"}
    if ports:
        container["ports"] = ports
    if bulky:
        container["env"] = [{"name": f"SETTING_{i}", "value": f"value-{i}-" + "x" * 24} for i in range(24)]
    spec: Obj = {"containers": [container], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                 "serviceAccountName": "default", "schedulerName": "default-scheduler",
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}]}
    if node_name:
        spec["nodeName"] = node_name
    if host_network:
        spec["hostNetwork"] = True
    state: Obj = {"waiting": {"reason": waiting[0], **({"message": waiting[1]} if waiting[1] else {})}} \
        if waiting else {"running": {"startedAt": "2026-11-25T09:01:00Z"}}
    status: Obj = {
        "phase": phase, "qosClass": "Burstable",
        "conditions": [_cond("PodScheduled", node_name is not None), _cond("Initialized", True),
                       _cond("ContainersReady", ready), _cond("Ready", ready)],
        "containerStatuses": [{"name": container["name"], "image": image, "imageID": "",
                               "ready": ready, "restartCount": restarts, "started": ready,
                               "state": state}],
    }
    if node_name:
        status["hostIP"] = "10.0.0.1"
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    md = _meta("Pod", name, namespace, labels=labels or {}, ownerReferences=refs,
               generateName=name.rsplit("-", 1)[0] + "-" if owner else "")
    if bulky:
        md["managedFields"] = _managed_fields("kubelet") + _managed_fields("kube-controller-manager")
        md["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z",
                             "checksum/config": hashlib.sha256(name.encode()).hexdigest()}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def namespaces(pods: list[Obj], labels: dict[str, dict[str, str]] | None = None) -> list[Obj]:
    """The Namespaces the pods live in (plus default), with the API server's automatic name label."""
    names = sorted({p["metadata"]["namespace"] for p in pods} | {"default"})
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": _meta("Namespace", n, labels={"kubernetes.io/metadata.name": n,
                                                       **(labels or {}).get(n, {})})} for n in names]


def daemonset(namespace: str, name: str, image: str, *, desired: int, ready: int) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": _meta("DaemonSet", name, namespace, labels={"app.kubernetes.io/name": name}),
        "spec": {"selector": {"matchLabels": {"k8s-app": name}},
                 "template": {"metadata": {"labels": {"k8s-app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                   "numberAvailable": ready, "numberReady": ready, "numberMisscheduled": 0,
                   "updatedNumberScheduled": desired, "observedGeneration": 1,
                   **({"numberUnavailable": desired - ready} if ready < desired else {})},
    }


def deployment(namespace: str, name: str, image: str, *, replicas: int, ready: int) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta("Deployment", name, namespace, labels={"app": name}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                   "updatedReplicas": replicas, "observedGeneration": 1},
    }


def service(namespace: str, name: str, selector: dict[str, str] | None, *, ports: list[Obj],
            type_: str = "ClusterIP", cluster_ip: str = "10.43.0.10", lb_ip: str = "") -> Obj:
    spec: Obj = {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports,
                 "sessionAffinity": "None", "ipFamilies": ["IPv4"]}
    if selector:
        spec["selector"] = selector
    lb: Obj = {"ingress": [{"ip": lb_ip, "ipMode": "VIP"}]} if lb_ip else {}
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta("Service", name, namespace),
            "spec": spec, "status": {"loadBalancer": lb}}


def endpointslice(namespace: str, svc: str, endpoints: list[tuple[str, str, bool]], port: int) -> Obj:
    """``endpoints``: (pod name, ip, ready)."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": _meta("EndpointSlice", f"{svc}-{_uid(svc)[:5]}", namespace,
                          labels={"kubernetes.io/service-name": svc,
                                  "endpointslice.kubernetes.io/managed-by":
                                      "endpointslice-controller.k8s.io"}),
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ok, "serving": ok, "terminating": False},
                       "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace}}
                      for pod_name, ip, ok in endpoints],
        "ports": [{"name": "", "port": port, "protocol": "TCP"}],
    }


def ingress(namespace: str, name: str, *, class_name: str, rules: list[tuple[str, str, str, Any]],
            tls: list[tuple[str, list[str]]] | None = None) -> Obj:
    """``rules``: (host, path, service, port number or name)."""
    by_host: dict[str, list[Obj]] = {}
    for host, path, svc, port in rules:
        port_ref = {"number": port} if isinstance(port, int) else {"name": port}
        backend = {"service": {"name": svc, "port": port_ref}}
        by_host.setdefault(host, []).append({"path": path, "pathType": "Prefix", "backend": backend})
    spec: Obj = {"ingressClassName": class_name,
                 "rules": [{"host": h, "http": {"paths": p}} for h, p in by_host.items()]}
    if tls:
        spec["tls"] = [{"hosts": hosts, "secretName": secret} for secret, hosts in tls]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": _meta("Ingress", name, namespace), "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.11"}]}}}


def ingressclass(name: str, controller: str, *, default: bool = False) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": _meta("IngressClass", name, annotations=annotations),
            "spec": {"controller": controller}}


def tls_secret(namespace: str, name: str, cert_pem: bytes, key_pem: bytes | None = None) -> Obj:
    """A kubernetes.io/tls Secret; snapshots store it without ``tls.key`` (pass none)."""
    import base64

    data = {"tls.crt": base64.b64encode(cert_pem).decode()}
    if key_pem is not None:
        data["tls.key"] = base64.b64encode(key_pem).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": _meta("Secret", name, namespace), "data": data}


def event(namespace: str, kind: str, name: str, reason: str, message: str, *, count: int = 1,
          last: str = "2026-11-25T10:31:00Z", host: str = "", type_: str = "Warning",
          component: str = "kubelet") -> Obj:
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1", "kind": "Event", "type": type_, "reason": reason, "message": message,
        "count": count, "firstTimestamp": "2026-11-25T09:58:00Z", "lastTimestamp": last,
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace,
                           "apiVersion": "v1" if kind in ("Pod", "Service", "Node") else "apps/v1"},
        "metadata": _meta("Event", f"{name}.{_uid(reason, name)[:16]}", namespace),
        "source": source, "reportingComponent": component, "reportingInstance": host,
    }


def write_list(path: Path, items: list[Obj]) -> None:
    """Write ``items`` the way ``kubectl get ... -A -o json`` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    path.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")


def certificate(common_name: str, sans: list[str], not_before: str, not_after: str,
                issuer: str = "") -> tuple[bytes, bytes]:
    """A certificate and its key as PEM; self-signed unless ``issuer`` names another CN
    (then signed by another key, like an unknown CA). Keys, serial and signature derive from
    the arguments, so regenerated test data is byte-for-byte the same."""
    from datetime import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def derived(*parts: str) -> int:
        return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:30], "big") + 1

    seed = (common_name, *sans, not_before, not_after, issuer)
    key = ec.derive_private_key(derived("key", *seed), ec.SECP256R1())
    signer = ec.derive_private_key(derived("issuer", issuer), ec.SECP256R1()) if issuer else key
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]) if issuer else subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
        .serial_number(derived("serial", *seed) >> 100)
        .not_valid_before(datetime.fromisoformat(not_before.replace("Z", "+00:00")))
        .not_valid_after(datetime.fromisoformat(not_after.replace("Z", "+00:00")))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        .sign(signer, hashes.SHA256(), ecdsa_deterministic=True)
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
