"""What the issue asks of the rendered manifests, beyond schema validity.

Usage: check_manifests.py OVERLAY RENDERED.yaml   (OVERLAY: sqlite-single, postgres-replicas,
aks or agent). Exits 1 naming each thing missing.
"""

import sys

import yaml


def main():
    overlay, rendered = sys.argv[1], sys.argv[2]
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    deploys = kinds.get("Deployment", [])
    need(len(deploys) == 1, "exactly one Deployment")
    if not deploys:
        sys.exit(f"{overlay}: " + "; ".join(problems))
    spec = deploys[0]["spec"]
    pod = spec["template"]["spec"]
    ctr = pod["containers"][0]
    sc = ctr.get("securityContext", {})
    need(pod.get("securityContext", {}).get("runAsNonRoot") is True, "runAsNonRoot")
    need(sc.get("readOnlyRootFilesystem") is True, "a read-only root filesystem")
    need(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    need("requests" in ctr.get("resources", {}) and "limits" in ctr.get("resources", {}),
         "resource requests and limits")
    if overlay == "agent":
        need("Service" not in kinds and "Ingress" not in kinds, "no Service or Ingress for the agent")
        need(not ctr.get("ports"), "no container port on the agent")
    else:
        probe = lambda p: ctr.get(p, {}).get("httpGet", {}).get("path")
        need(probe("livenessProbe") == "/healthz", "a liveness probe on /healthz")
        need(probe("readinessProbe") == "/readyz", "a readiness probe on /readyz")
        need(pod.get("terminationGracePeriodSeconds", 30) >= 60, "a grace period for draining")
        need("Service" in kinds and "Ingress" in kinds, "a Service and an Ingress")
        replicas = spec.get("replicas", 1)
        if overlay == "sqlite-single":
            need(replicas == 1, "one replica on SQLite")
            need(spec.get("strategy", {}).get("type") == "Recreate", "Recreate on SQLite")
            need("PersistentVolumeClaim" in kinds, "a PersistentVolumeClaim for SQLite")
        else:
            need(replicas > 1, "more than one replica on PostgreSQL")
            need("PodDisruptionBudget" in kinds, "a PodDisruptionBudget")
            env = {e["name"]: e for e in ctr.get("env", [])}
            need("secretKeyRef" in env.get("GATEHOUSE_DATABASE", {}).get("valueFrom", {}),
                 "GATEHOUSE_DATABASE from a Secret")
        if overlay == "aks":
            need(any("csi" in v for v in pod.get("volumes", [])), "the Key Vault CSI volume")
            need("SecretProviderClass" in kinds, "a SecretProviderClass")
    if problems:
        sys.exit(f"{overlay}: missing " + "; ".join(problems))
    print(f"{overlay}: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
