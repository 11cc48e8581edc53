# Sourced by scripts/controlplane, scripts/test and scripts/bench: the real Kubernetes
# control plane of the test bed (docs/testing.md).
#
#   build_controlplane NAME      builds what is missing into the tools folder, once
#   controlplane_up NAME DIR     starts etcd, kube-apiserver, kube-controller-manager,
#                                kube-scheduler and kwok with their data, logs and pids in
#                                DIR, writes DIR/kubeconfig (admin) and DIR/env, and
#                                returns once every Node is Ready
#   controlplane_down DIR        stops what controlplane_up started in DIR
#
# Everything listens on loopback, on free ports of its own, so several run at once.

controlplane_kube_version=v1.35.4
controlplane_etcd_version=v3.6.16
controlplane_kwok_version=v0.8.0
controlplane_nodes=3
# Bumped when the way the binaries are built changes (flags), so they are built anew.
controlplane_build_rev=1

controlplane_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

# The folder the binaries of this exact test bed go in: named after the versions and a
# digest of the Go modules that pin them, so a changed pin builds anew and an unchanged
# one is reused by every checkout (CI's fresh clone included).
controlplane_bin_dir() {
  local tools="${LIFEBOAT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat-tools}"
  local root digest
  root="$(controlplane_root)"
  digest="$({ cat "$root"/testbed/*/go.mod "$root"/testbed/*/go.sum; echo "$controlplane_build_rev"; } \
    | sha256sum | cut -c1-12)"
  echo "$tools/controlplane-$controlplane_kube_version-$digest/bin"
}

build_controlplane() {
  local name=$1 bin root
  bin="$(controlplane_bin_dir)"
  root="$(controlplane_root)"
  if [ -f "$bin/.complete" ]; then return 0; fi
  if ! command -v go >/dev/null; then
    echo "$name: Go is required to build the test bed's control plane (it is on the machine image)" >&2
    return 1
  fi
  echo "$name: building the control plane (Kubernetes $controlplane_kube_version, etcd $controlplane_etcd_version, kwok $controlplane_kwok_version) into $bin (once; about 5 minutes on 2 cores)" >&2
  local started=$SECONDS partial="$bin.partial"
  rm -rf "$partial" && mkdir -p "$partial"
  local ld="-s -w" pkg minor=${controlplane_kube_version#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$controlplane_kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (
    export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
    cd "$root/testbed/controlplane" &&
      go build -trimpath -ldflags "$ld" -o "$partial/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl &&
      cd "$root/testbed/etcd" &&
      go build -trimpath -ldflags "-s -w" -o "$partial/etcd" go.etcd.io/etcd/server/v3 &&
      cd "$root/testbed/kwok" &&
      go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$controlplane_kwok_version" \
        -o "$partial/kwok" sigs.k8s.io/kwok/cmd/kwok
  ) || { echo "$name: building the control plane failed (see above)" >&2; return 1; }
  rm -rf "$bin" && mv "$partial" "$bin" && touch "$bin/.complete"
  echo "$name: control plane built in $((SECONDS - started)) s" >&2
}

# Free loopback ports, bound together so that they differ.
controlplane_free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# A kubeconfig for `user` with a bearer token.
controlplane_kubeconfig() {
  local dir=$1 out=$2 user=$3 token=$4 server=$5
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: { server: "$server", certificate-authority: "$dir/pki/ca.crt" }
users:
- name: $user
  user: { token: "$token" }
contexts:
- name: testbed
  context: { cluster: testbed, user: $user }
current-context: testbed
EOF
  chmod 600 "$out"
}

controlplane_pki() {
  local pki=$1/pki
  mkdir -p "$pki" && chmod 700 "$pki"
  (
    cd "$pki" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=lifeboat-testbed-ca" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' >apiserver.ext &&
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout front-proxy-ca.key -out front-proxy-ca.crt -subj "/CN=lifeboat-testbed-front-proxy-ca" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout front-proxy-client.key -out front-proxy-client.csr -subj "/CN=front-proxy-client" 2>/dev/null &&
    printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key \
      -CAcreateserial -days 3650 -extfile client.ext -out front-proxy-client.crt 2>/dev/null &&
    openssl genrsa -out sa.key 2048 2>/dev/null &&
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  ) || { echo "controlplane: openssl could not make the certificates in $pki" >&2; return 1; }
}

# Starts one component in the background, in its own session (a Ctrl-C meant for the
# caller does not reach it), its output in DIR/logs/NAME.log, its pid in DIR/pids.
controlplane_start() {
  local dir=$1 name=$2
  shift 2
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo "$! $name" >>"$dir/pids"
}

controlplane_fail() {
  local dir=$1 message=$2 log
  echo "controlplane: $message; the last lines of its logs:" >&2
  for log in "$dir"/logs/*.log; do
    echo "--- $log" >&2
    tail -n 15 "$log" >&2
  done
  controlplane_down "$dir"
  return 1
}

# Waits up to $3 seconds until the command "$4..." succeeds.
controlplane_wait() {
  local dir=$1 what=$2 seconds=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      controlplane_fail "$dir" "$what within $seconds s"
      return 1
    fi
    local pid comp
    while read -r pid comp; do
      if ! kill -0 "$pid" 2>/dev/null; then
        controlplane_fail "$dir" "$comp exited while waiting for: $what"
        return 1
      fi
    done <"$dir/pids"
    sleep 0.5
  done
}

controlplane_up() {
  local name=$1 dir=$2
  build_controlplane "$name" || return 1
  local bin root
  bin="$(controlplane_bin_dir)"
  root="$(controlplane_root)"
  mkdir -p "$dir" && dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pids" ]; then
    echo "$name: $dir already holds a control plane; stop it with scripts/controlplane down $dir" >&2
    return 1
  fi
  rm -rf "$dir/etcd" "$dir/logs" "$dir/pki" "$dir/hostpath" && mkdir -p "$dir/logs" "$dir/hostpath"
  controlplane_pki "$dir" || return 1

  local ports etcd_port peer_port api_port
  ports="$(controlplane_free_ports 3)"
  read -r etcd_port peer_port api_port <<<"$ports"
  local server="https://127.0.0.1:$api_port"
  local token_of
  token_of() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
  local admin_token cm_token sched_token kwok_token nobody_token
  admin_token="$(token_of)" cm_token="$(token_of)" sched_token="$(token_of)"
  kwok_token="$(token_of)" nobody_token="$(token_of)"
  # Bearer tokens: the admin (system:masters), the controller manager's and the
  # scheduler's own identities (granted by RBAC's bootstrap policy, as on kubeadm), kwok
  # (which plays every kubelet), and an identity with no permission at all. Only the
  # admin is `lifeboat-admin`, so the audit log tells its writes from the components'.
  {
    echo "$admin_token,lifeboat-admin,lifeboat-admin,system:masters"
    echo "$cm_token,system:kube-controller-manager,system:kube-controller-manager"
    echo "$sched_token,system:kube-scheduler,system:kube-scheduler"
    echo "$kwok_token,kwok,kwok,system:masters"
    echo "$nobody_token,lifeboat-nobody,lifeboat-nobody"
  } >"$dir/pki/tokens.csv"
  chmod 600 "$dir/pki/tokens.csv"
  controlplane_kubeconfig "$dir" "$dir/kubeconfig" lifeboat-admin "$admin_token" "$server"
  controlplane_kubeconfig "$dir" "$dir/pki/controller-manager.kubeconfig" system:kube-controller-manager "$cm_token" "$server"
  controlplane_kubeconfig "$dir" "$dir/pki/scheduler.kubeconfig" system:kube-scheduler "$sched_token" "$server"
  controlplane_kubeconfig "$dir" "$dir/pki/kwok.kubeconfig" kwok "$kwok_token" "$server"
  controlplane_kubeconfig "$dir" "$dir/nobody.kubeconfig" lifeboat-nobody "$nobody_token" "$server"
  : >"$dir/pids"

  controlplane_start "$dir" etcd "$bin/etcd" --name testbed --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "testbed=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
  local pki="$dir/pki"
  controlplane_start "$dir" kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
    --audit-policy-file "$root/testbed/controlplane/audit-policy.yaml" \
    --audit-log-path "$dir/logs/audit.jsonl" --audit-log-format json \
    --cert-dir "$pki" --profiling=false --max-requests-inflight 800 --max-mutating-requests-inflight 400
  local kubectl="$bin/kubectl --kubeconfig $dir/kubeconfig --request-timeout=5s"
  controlplane_wait "$dir" "kube-apiserver did not answer /readyz" 120 $kubectl get --raw /readyz || return 1

  controlplane_start "$dir" kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$pki/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$pki/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$pki/controller-manager.kubeconfig" \
    --secure-port 0 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range 10.96.0.0/16 --enable-hostpath-provisioner=true \
    --kube-api-qps 200 --kube-api-burst 400 --concurrent-deployment-syncs 10 \
    --concurrent-replicaset-syncs 10 --concurrent-gc-syncs 20
  controlplane_start "$dir" kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$pki/scheduler.kubeconfig" \
    --authentication-kubeconfig "$pki/scheduler.kubeconfig" \
    --authorization-kubeconfig "$pki/scheduler.kubeconfig" \
    --secure-port 0 --leader-elect=false --kube-api-qps 200 --kube-api-burst 400
  controlplane_start "$dir" kwok "$bin/kwok" --kubeconfig "$dir/pki/kwok.kubeconfig" \
    --config "$root/testbed/kwok/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= --manage-single-node= \
    --cidr 10.244.0.0/16 --node-ip 10.0.0.1 --node-lease-duration-seconds 40

  local i nodes=""
  for i in $(seq 0 $((controlplane_nodes - 1))); do
    nodes="$nodes
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: \"0\" }
  labels: { type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64 }"
  done
  echo "$nodes" | $kubectl apply -f - >/dev/null ||
    { controlplane_fail "$dir" "the Nodes could not be created"; return 1; }
  controlplane_wait "$dir" "the Nodes did not become Ready" 120 \
    $kubectl wait --for=condition=Ready node --all --timeout=5s || return 1
  # The controller manager is up once it gives a namespace its default ServiceAccount.
  controlplane_wait "$dir" "the controller manager did not create the default ServiceAccount" 120 \
    $kubectl get serviceaccount default -n default || return 1
  # Dynamic provisioning through the controller manager's host-path provisioner (for
  # tests only), as the default StorageClass, so claims bind as on a cloud.
  $kubectl apply -f - >/dev/null <<'EOF' || { controlplane_fail "$dir" "the StorageClass could not be created"; return 1; }
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
  cat >"$dir/env" <<EOF
# The control plane in $dir (sourced by tests and scripts).
LIFEBOAT_CONTROLPLANE_DIR=$dir
LIFEBOAT_CONTROLPLANE_KUBECONFIG=$dir/kubeconfig
LIFEBOAT_CONTROLPLANE_KUBECTL=$bin/kubectl
LIFEBOAT_CONTROLPLANE_SERVER=$server
LIFEBOAT_CONTROLPLANE_VERSION=$controlplane_kube_version
EOF
  echo "$name: control plane up in $dir: kubectl --kubeconfig $dir/kubeconfig get nodes (API server $server)" >&2
}

controlplane_down() {
  local dir=$1 pid comp
  [ -f "$dir/pids" ] || return 0
  # Newest first: kwok, the scheduler and the controller manager, the API server, etcd.
  tac "$dir/pids" | while read -r pid comp; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir/pids"
}
