#!/usr/bin/env python3
"""Backup and restore figures of SPEC section 9, side by side with the baselines it
names. Run by scripts/bench (which starts the S3 server and exports its endpoint);
prints figures and ratios, asserts nothing.

  backup of N objects:  lifeboat backup            vs  kubectl get -o json + aws s3 cp
  restore of N objects: lifeboat restore (empty)   vs  kubectl apply -f and
                                                       kubectl apply --server-side (empty)
  peak memory of lifeboat for backup and restore at N and 10*N objects (flat?)
"""
import json, os, subprocess, sys, tempfile, time

BIN = sys.argv[1]
N = int(os.environ.get("LIFEBOAT_BENCH_OBJECTS", "10000"))
LARGE = int(os.environ.get("LIFEBOAT_BENCH_LARGE_OBJECTS", str(10 * N)))
ENDPOINT = os.environ["LIFEBOAT_TEST_S3_ENDPOINT"]
work = tempfile.mkdtemp(prefix="lifeboat-bench-")


def seed(dirname, n, replicas=2):
    """n objects in 20 namespaces: ConfigMaps, Secrets, Services and Deployments."""
    d = os.path.join(work, dirname)
    os.makedirs(d, exist_ok=True)
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{t:02}"}} for t in range(20)]
    for i in range(n - 20):
        ns = f"team-{i % 20:02}"
        meta = {"name": f"obj-{i:06}", "namespace": ns, "labels": {"app": f"app-{i % 50}", "tier": "web" if i % 3 else "batch"}}
        k = i % 4
        if k == 0:
            o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"LOG_LEVEL": "info", "INDEX": str(i), "FEATURES": "a,b,c,d"}}
        elif k == 1:
            o = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": {"token": "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZw=="}}
        elif k == 2:
            o = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"selector": {"app": meta["labels"]["app"]}, "ports": [{"port": 80, "targetPort": 8080}]}}
        else:
            o = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": meta["name"]}},
                 "template": {"metadata": {"labels": {"app": meta["name"]}}, "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.2.3", "ports": [{"containerPort": 8080}]}]}}}}
        items.append(o)
    # Files of 500 objects: the seed reader bounds the size of one document.
    for start in range(0, len(items), 500):
        with open(os.path.join(d, f"objects-{start // 500:04}.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items[start:start + 500]}, f)
    return d


class Served:
    def __init__(self, name, seed_dir=None):
        self.kubeconfig = os.path.join(work, f"{name}.kubeconfig")
        args = [BIN, "sandbox", "serve", "--kubeconfig", self.kubeconfig]
        if seed_dir:
            args += ["--seed", seed_dir]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 300
        while not os.path.exists(self.kubeconfig):
            if self.proc.poll() is not None or time.time() > deadline:
                sys.exit(f"bench: the sandbox did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)

    def kubectl(self, *args, stdout=subprocess.DEVNULL):
        done = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "--request-timeout=120s", *args],
                              stdout=stdout, stderr=subprocess.PIPE)
        if done.returncode != 0:
            sys.exit(f"bench: kubectl {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def timed(cmd, **kw):
    """Wall seconds and peak RSS (KiB) of a command."""
    rss = os.path.join(work, "rss")
    t = time.perf_counter()
    kw.setdefault("stdout", subprocess.DEVNULL)
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, *cmd], check=True, **kw)
    secs = time.perf_counter() - t
    return secs, int(open(rss).read().split()[-1])


def aws(*args):
    subprocess.run(["aws", "--endpoint-url", ENDPOINT, *args], check=True, stdout=subprocess.DEVNULL)


def runbook(name, kubeconfig, bucket, step):
    """A runbook of one step, its journal in the bench's own folder (a journal left by
    an earlier bench run with the same run id would make the run a no-op)."""
    p = os.path.join(work, f"{name}.yaml")
    with open(p, "w") as f:
        f.write(f"""apiVersion: lifeboat.dev/v1alpha1
kind: Runbook
metadata: {{ name: {name} }}
clusters:
  c: {{ kubeconfig: "{kubeconfig}" }}
stores:
  vault: {{ s3: {{ bucket: {bucket}, prefix: bench-{os.getpid()}/, endpoint: "{ENDPOINT}", region: us-east-1, path_style: true, checksum: when_required }} }}
state: {{ path: state-{name} }}
steps:
  - {step}
""")
    return p


def lifeboat_run(rb, run_id):
    with open(os.path.join(work, "last-run.jsonl"), "w") as events:
        return timed([BIN, "run", rb, "--run-id", run_id, "--output", "json"], stdout=events)


def check_step(rb, step):
    """The step of the last run of `rb` ran (was not resumed from a journal) and
    succeeded; otherwise its figure means nothing."""
    events = [json.loads(l) for l in open(os.path.join(work, "last-run.jsonl")) if l.strip()]
    ran = [e for e in events if e.get("event") == "step_succeeded" and e.get("step") == step]
    if not ran:
        sys.exit(f"bench: step {step} of {rb} did not run and succeed: {events[-3:]}")
    return ran[0].get("outputs", {})


def round_trip(tag, n, bucket, with_baseline):
    source = Served(f"source-{tag}", seed(f"seed-{tag}", n))
    target = Served(f"target-{tag}")
    out = {}
    rb = runbook(f"bench-backup-{tag}", source.kubeconfig, bucket, "{ id: backup, uses: backup, with: { store: vault, namespaces: [ \"team-*\" ] } }")
    out["backup"] = lifeboat_run(rb, f"b{n}")
    out["backup_objects"] = check_step(rb, "backup").get("objects")
    backup_id = f"bench-backup-{tag}-b{n}-backup"
    rb = runbook(f"bench-restore-{tag}", target.kubeconfig, bucket, f"{{ id: restore, uses: restore, with: {{ store: vault, backup: {backup_id} }} }}")
    out["restore"] = lifeboat_run(rb, f"r{n}")
    out["restore_objects"] = check_step(rb, "restore").get("created")
    if with_baseline:
        dump = os.path.join(work, "kubectl-dump.json")
        t = time.perf_counter()
        with open(dump, "w") as f:
            source.kubectl("get", "namespaces,configmaps,secrets,services,deployments", "-A", "-o", "json", stdout=f)
        aws("s3", "cp", dump, f"s3://{bucket}/baseline/dump.json")
        out["backup_baseline"] = time.perf_counter() - t
        # kubectl apply needs what the API server assigned taken out, as restore does.
        items = json.load(open(dump))["items"]
        clean = []
        for o in items:
            name = o["metadata"].get("name", "")
            if o["kind"] == "Namespace" and not name.startswith("team-"):
                continue
            if o["kind"] in ("ConfigMap", "Service") and o["metadata"].get("namespace", "").startswith("team-") is False:
                continue
            if o["kind"] == "ConfigMap" and name == "kube-root-ca.crt":
                continue
            for f in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"):
                o["metadata"].pop(f, None)
            o.pop("status", None)
            if o["kind"] == "Service":
                o["spec"].pop("clusterIP", None)
                o["spec"].pop("clusterIPs", None)
            clean.append(o)
        # One document per object (the sandbox serves no OpenAPI v2, which kubectl wants
        # to validate a `kind: List`).
        applied = os.path.join(work, "apply.yaml")
        with open(applied, "w") as f:
            f.write("\n---\n".join(json.dumps(o) for o in clean))
        baseline_target = Served(f"baseline-{n}")
        t = time.perf_counter()
        baseline_target.kubectl("apply", "-f", applied)
        out["restore_baseline"] = time.perf_counter() - t
        baseline_target.stop()
        ssa_target = Served(f"baseline-ssa-{n}")
        t = time.perf_counter()
        ssa_target.kubectl("apply", "--server-side", "-f", applied)
        out["restore_baseline_ssa"] = time.perf_counter() - t
        ssa_target.stop()
    source.stop()
    target.stop()
    return out


def main():
    bucket = f"bench-{os.getpid()}"
    aws("s3", "mb", f"s3://{bucket}")
    r = round_trip("small", N, bucket, True)
    (b, b_rss), (rs, rs_rss) = r["backup"], r["restore"]
    print(f"objects: backed up {r['backup_objects']}, restored (created) {r['restore_objects']}")
    print(f"backup of {N} objects (sandbox + S3):   lifeboat {b:6.2f} s   kubectl get -o json + aws s3 cp {r['backup_baseline']:6.2f} s   "
          f"{r['backup_baseline'] / b:5.1f}x faster (target >= 5x)")
    print(f"restore of {N} objects (empty cluster): lifeboat {rs:6.2f} s   kubectl apply -f {r['restore_baseline']:6.2f} s   "
          f"{r['restore_baseline'] / rs:5.1f}x faster (target >= 10x); {N / rs:,.0f} objects/s (target >= 1,000/s)")
    print(f"restore of {N} objects (empty cluster): lifeboat {rs:6.2f} s   kubectl apply --server-side {r['restore_baseline_ssa']:6.2f} s   "
          f"{r['restore_baseline_ssa'] / rs:5.1f}x faster (target >= 10x)")
    big = round_trip("large", LARGE, bucket, False)
    (bb, bb_rss), (br, br_rss) = big["backup"], big["restore"]
    print(f"peak memory of lifeboat, backup:  {b_rss / 1024:6.1f} MiB at {N} objects, {bb_rss / 1024:6.1f} MiB at {LARGE} ({bb:.1f} s)  (target < 200 MiB, flat)")
    print(f"peak memory of lifeboat, restore: {rs_rss / 1024:6.1f} MiB at {N} objects, {br_rss / 1024:6.1f} MiB at {LARGE} ({br:.1f} s, {LARGE / br:,.0f} objects/s)  (target < 200 MiB, flat)")


if __name__ == "__main__":
    try:
        main()
    finally:
        subprocess.run(["rm", "-rf", work])
