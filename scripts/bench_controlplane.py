#!/usr/bin/env python3
"""Backup and restore figures of SPEC section 9 on the real control plane of the test
bed (docs/testing.md), side by side with their baselines. Run by scripts/bench (which
starts the S3 server, builds the control plane and passes the binaries); prints
figures and ratios, asserts nothing.

  restore of N objects into an empty control plane:
      lifeboat restore   vs  kubectl apply --server-side   vs  a bare parallel client
      (crates/lifeboat/examples/create_ceiling.rs: POSTs and nothing else; the target is >= 80% of it)
  backup of the same N objects:
      lifeboat backup    vs  kubectl get -o json + aws s3 cp

The objects are those of the sandbox bench (ConfigMaps, Secrets, Services and
Deployments with no replicas, so that no pod is made) in 20 namespaces; each restore
goes into a fresh control plane.
"""
import json, os, subprocess, sys, tempfile, time

import bench_backup as bb  # noqa: E402  (reads BIN from sys.argv[1], as this script)

BIN, CEILING, KUBECTL = sys.argv[1], sys.argv[2], sys.argv[3]
N = int(os.environ.get("LIFEBOAT_BENCH_OBJECTS", "10000"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="lifeboat-bench-cp-")


class ControlPlane:
    def __init__(self, name):
        self.dir = os.path.join(work, name)
        done = subprocess.run([os.path.join(ROOT, "scripts/controlplane"), "up", self.dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            sys.exit(f"bench: scripts/controlplane up failed: {done.stderr.decode()[-2000:]}")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")

    def kubectl(self, *args, stdout=subprocess.DEVNULL):
        done = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, "--request-timeout=300s", *args],
                              stdout=stdout, stderr=subprocess.PIPE)
        if done.returncode != 0:
            sys.exit(f"bench: kubectl {' '.join(args[:3])} failed: {done.stderr.decode()[-2000:]}")

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts/controlplane"), "down", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def objects_of(source, path_jsonl, path_yaml):
    """The source's objects as a restore writes them (what the API server assigned
    taken out), as JSON Lines and as YAML documents."""
    dump = os.path.join(work, "dump.json")
    with open(dump, "w") as f:
        source.kubectl("get", "namespaces,configmaps,secrets,services,deployments", "-A", "-o", "json", stdout=f)
    clean = []
    for o in json.load(open(dump))["items"]:
        ns, name = o["metadata"].get("namespace", ""), o["metadata"].get("name", "")
        if o["kind"] == "Namespace" and not name.startswith("team-"):
            continue
        if o["kind"] != "Namespace" and not ns.startswith("team-"):
            continue
        if name == "kube-root-ca.crt" or (o["kind"] == "ServiceAccount"):
            continue
        for f in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"):
            o["metadata"].pop(f, None)
        o["metadata"].get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
        o.pop("status", None)
        if o["kind"] == "Service":
            o["spec"].pop("clusterIP", None)
            o["spec"].pop("clusterIPs", None)
        clean.append(o)
    with open(path_jsonl, "w") as f:
        f.write("\n".join(json.dumps(o) for o in clean) + "\n")
    with open(path_yaml, "w") as f:
        f.write("\n---\n".join(json.dumps(o) for o in clean))
    return len(clean)


def main():
    bucket = f"bench-cp-{os.getpid()}"
    bb.aws("s3", "mb", f"s3://{bucket}")
    # The backup to restore, taken from the sandbox (quick to fill).
    source = bb.Served("cp-source", bb.seed("cp-seed", N, replicas=0))
    rb = bb.runbook("bench-cp-source", source.kubeconfig, bucket,
                    "{ id: backup, uses: backup, with: { store: vault, namespaces: [ \"team-*\" ] } }")
    bb.lifeboat_run(rb, "s")
    backup_id = "bench-cp-source-s-backup"
    jsonl, yaml = os.path.join(work, "objects.jsonl"), os.path.join(work, "objects.yaml")
    count = objects_of(source, jsonl, yaml)
    source.stop()

    # One control plane at a time: a cluster's controllers, busy with what was just
    # created, would slow the next measurement down.
    ceiling_cp = ControlPlane("ceiling")
    out = subprocess.run([CEILING, ceiling_cp.kubeconfig, jsonl, "16"], capture_output=True, text=True, check=True)
    ceiling = float(out.stdout.split(" in ")[1].split(" s")[0])
    ceiling_cp.stop()

    ssa_cp = ControlPlane("ssa")
    t = time.perf_counter()
    ssa_cp.kubectl("apply", "--server-side", "-f", yaml)
    ssa = time.perf_counter() - t
    ssa_cp.stop()

    target = ControlPlane("lifeboat")
    rb = bb.runbook("bench-cp-restore", target.kubeconfig, bucket,
                    f"{{ id: restore, uses: restore, with: {{ store: vault, backup: {backup_id}, parallelism: 16 }} }}")
    restore, restore_rss = bb.lifeboat_run(rb, "r")
    created = bb.check_step(rb, "restore").get("created")

    # Backup of what the restore wrote, the same kinds as the baseline reads.
    kinds = "namespaces,configmaps,secrets,services,deployments"
    rb = bb.runbook("bench-cp-backup", target.kubeconfig, bucket,
                    f"{{ id: backup, uses: backup, with: {{ store: vault, namespaces: [ \"team-*\" ], include_resources: [ {', '.join(kinds.split(','))} ] }} }}")
    backup, backup_rss = bb.lifeboat_run(rb, "b")
    backed_up = bb.check_step(rb, "backup").get("objects")
    dump = os.path.join(work, "baseline.json")
    t = time.perf_counter()
    with open(dump, "w") as f:
        target.kubectl("get", kinds, "-A", "-o", "json", stdout=f)
    bb.aws("s3", "cp", dump, f"s3://{bucket}/baseline/dump.json")
    backup_baseline = time.perf_counter() - t
    target.stop()

    print(f"real control plane (Kubernetes v1.35.4 from the test bed), {count} objects; restored (created) {created}, backed up {backed_up}")
    print(f"restore into an empty control plane: lifeboat {restore:6.2f} s ({count / restore:,.0f} objects/s, peak {restore_rss / 1024:.0f} MiB)   "
          f"bare parallel client {ceiling:6.2f} s ({count / ceiling:,.0f}/s)   lifeboat at {100 * ceiling / restore:4.0f}% of it (target >= 80%)")
    print(f"restore into an empty control plane: lifeboat {restore:6.2f} s   kubectl apply --server-side {ssa:6.2f} s   "
          f"{ssa / restore:5.1f}x faster (the API server's own create rate bounds both here; the 10x target is the sandbox's)")
    print(f"backup from the control plane:       lifeboat {backup:6.2f} s (peak {backup_rss / 1024:.0f} MiB)   kubectl get -o json + aws s3 cp {backup_baseline:6.2f} s   "
          f"{backup_baseline / backup:5.1f}x faster (the 5x target is the sandbox's)")


try:
    main()
finally:
    subprocess.run(["rm", "-rf", work])
    subprocess.run(["rm", "-rf", bb.work])
