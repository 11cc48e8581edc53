# Sourced by scripts/test and scripts/bench: installs s3s-fs (a real S3 server) into a
# tools folder outside the checkout when missing, starts it on a free loopback port with
# a temporary data folder and fresh credentials, exports its endpoint and the AWS
# variables, and stops it (removing its data) when the sourcing script exits.
#
#   source scripts/lib/s3-server.sh; start_s3_server NAME

start_s3_server() {
  local name=$1
  local tools="${LIFEBOAT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat-tools}"
  local s3s_version=0.14.1
  local s3s="$tools/bin/s3s-fs"
  if ! "$s3s" --version 2>/dev/null | grep -qF "$s3s_version"; then
    echo "$name: installing s3s-fs $s3s_version into $tools (once)" >&2
    cargo install "s3s-fs@$s3s_version" --features binary --locked --root "$tools"
  fi

  s3_work="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-test.XXXXXX")"
  mkdir -p "$s3_work/s3"
  local port access_key secret_key
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  access_key="lifeboat-test"
  secret_key="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

  "$s3s" --host 127.0.0.1 --port "$port" --access-key "$access_key" --secret-key "$secret_key" \
    "$s3_work/s3" >"$s3_work/s3s-fs.log" 2>&1 &
  s3s_pid=$!
  trap stop_s3_server EXIT

  local ready=
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      ready=1; break
    fi
    if ! kill -0 "$s3s_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "$name: s3s-fs did not start on port $port; its log:" >&2
    cat "$s3_work/s3s-fs.log" >&2
    exit 1
  fi

  export LIFEBOAT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export LIFEBOAT_TEST_S3_DATA_DIR="$s3_work/s3"
  export AWS_ACCESS_KEY_ID="$access_key"
  export AWS_SECRET_ACCESS_KEY="$secret_key"
  export AWS_REGION="us-east-1"
  export AWS_EC2_METADATA_DISABLED=true
  echo "$name: s3s-fs listening on $LIFEBOAT_TEST_S3_ENDPOINT" >&2
}

stop_s3_server() {
  kill "$s3s_pid" 2>/dev/null || true
  wait "$s3s_pid" 2>/dev/null || true
  rm -rf "$s3_work"
}
