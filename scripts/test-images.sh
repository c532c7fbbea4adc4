#!/usr/bin/env bash
# Tests the container images without a registry or a container runtime: builds a
# Debian base with mmdebstrap (from Debian's packages), imports it into a private
# buildah storage, builds `gatehouse` and `gatehouse-agent` against it (`buildah build
# --isolation chroot`, binaries built on this machine), then runs each image's
# entrypoint from its own filesystem: `buildah mount`, a read-only view of it with
# /proc, /dev, tmpfs volumes and the config mounted inside, `chroot --userspec` as the
# image's user. The control plane must answer /healthz and its HEALTHCHECK, serve the
# dashboard, and pass an MCP call through an agent from the agent image to a real MCP
# server; both must stop cleanly on SIGTERM. Mounts, processes and working containers
# are removed on exit; the base and layer cache stay under $CARGO_TARGET_DIR/images.
#
# Usage: scripts/test-images.sh [--binaries DIR]
#   --binaries DIR  where `gatehouse` and `gatehouse-agent` are (default: target/release,
#                   built when missing). Skips, saying why, where mmdebstrap and buildah
#                   cannot be installed (not root, no apt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$target/images"
base_image=localhost/gatehouse-test-base:bookworm
tag="test"

say() { printf 'test-images: %s\n' "$*"; }
fail() { printf 'test-images: FAILED: %s\n' "$*" >&2; exit 1; }
skip() { printf 'test-images: SKIPPED: %s\n' "$*"; exit 0; }

bins=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binaries) bins="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done

[[ "$(id -u)" == 0 ]] || skip "needs root: buildah storage, mounts and chroot (run as root to test the images)"
command -v apt-get >/dev/null || command -v buildah >/dev/null || skip "no apt-get to install mmdebstrap and buildah from Debian"
scripts/install-deploy-deps.sh >/dev/null || skip "mmdebstrap and buildah could not be installed from Debian"
scripts/install-test-deps.sh >/dev/null   # the MCP reference server the call goes to

if [[ -z $bins ]]; then
  bins="$target/release"
  say "building release binaries (the dashboard first: the binary embeds it)"
  scripts/build-ui.sh
  cargo build --release --locked -p gatehouse-cli -p gatehouse-agent
fi
[[ -x $bins/gatehouse && -x $bins/gatehouse-agent ]] || fail "no gatehouse and gatehouse-agent in $bins"

# A private buildah storage: nothing of this machine's own images is touched.
mkdir -p "$work"
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "${GATEHOUSE_IMAGES_STORAGE_DRIVER:-overlay}"
graphroot = "$work/storage"
runroot = "$work/run"
CONF

base_tar="$work/base-bookworm.tar"
if [[ ! -f $base_tar ]] || [[ -n "$(find "$base_tar" -mtime +6)" ]]; then
  say "building the base with mmdebstrap (Debian bookworm, minbase)"
  mmdebstrap --variant=minbase --format=tar --quiet bookworm "$base_tar.part"
  mv "$base_tar.part" "$base_tar"
fi
if [[ ! -f $work/base.imported || $base_tar -nt $work/base.imported ]]; then
  say "importing the base as $base_image"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$base_tar" / >/dev/null
  buildah commit --quiet "$ctr" "$base_image" >/dev/null
  buildah rm "$ctr" >/dev/null
  touch "$work/base.imported"
fi

# The images get the binaries without their debug sections: a test build's are several
# times the size of the code, and every layer that copies them would keep them.
staged="$work/binaries"
rm -rf "$staged" && mkdir -p "$staged"
for bin in gatehouse gatehouse-agent; do
  objcopy --strip-debug "$bins/$bin" "$staged/$bin"
done

say "building the images"
scripts/build-images.sh --tool buildah --base "$base_image" --prebuilt "$staged" --tag "$tag" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; fail "scripts/build-images.sh failed (log: $work/build.log)"; }
sed -n '/^build-images: sizes/,$p' "$work/build.log"

cp_image="localhost/gatehouse:$tag"
agent_image="localhost/gatehouse-agent:$tag"
scratch="$(mktemp -d /tmp/gatehouse-images.XXXXXX)"
mounts=() pids=() ctrs=()
cleanup() {
  local pid m c
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ((m = ${#mounts[@]} - 1; m >= 0; m--)); do umount -R -l "${mounts[m]}" 2>/dev/null || true; done
  for c in "${ctrs[@]}"; do buildah umount "$c" >/dev/null 2>&1 || true; buildah rm "$c" >/dev/null 2>&1 || true; done
  # The test images and their layers go; the imported base stays for the next run.
  buildah rmi -f "$cp_image" "$agent_image" >/dev/null 2>&1 || true
  buildah rmi --prune >/dev/null 2>&1 || true
  rm -rf "$scratch" "$staged"
}
trap cleanup EXIT

# image_config IMAGE KEY: the image's config value KEY (User, Env, Entrypoint, Cmd,
# Healthcheck), one list element a line.
image_config() {
  buildah inspect --type image "$1" | python3 -c '
import json, sys
v = json.load(sys.stdin)["Docker"]["config"].get(sys.argv[1]) or []
v = v.get("Test", []) if isinstance(v, dict) else v
sys.stdout.write("".join(x + "\n" for x in (v if isinstance(v, list) else [v])))' "$2"
}

# open_image IMAGE NAME CONFIG_DIR: a read-only view of the image's filesystem at
# $scratch/NAME, as a runtime would give it: /proc, /dev, tmpfs volumes, the config.
open_image() {
  local image=$1 conf=$3 ctr mnt dir=$scratch/$2 user
  ctr="$(buildah from --pull=never "$image")"
  ctrs+=("$ctr")
  mnt="$(buildah mount "$ctr")"
  [[ ! -e $mnt/bin/sh && ! -e $mnt/usr/bin/apt-get ]] || fail "$image has a shell or a package manager"
  user="$(image_config "$image" User)"
  [[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || fail "$image runs as root (USER '$user')"
  mkdir -p "$dir"
  mount --bind "$mnt" "$dir" && mounts+=("$dir")
  # Private: what is mounted below must not show in buildah's mount (or anywhere else), and
  # unmounting /dev's copy must not unmount the host's /dev/pts (rslave).
  mount --make-private "$dir"
  mount -o remount,bind,ro "$dir"
  mount -t proc proc "$dir/proc"
  mount --rbind /dev "$dir/dev"
  mount --make-rslave "$dir/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
  mount -t tmpfs -o "uid=${user%%:*},gid=${user##*:},mode=0700" tmpfs "$dir/var/lib/gatehouse"
  mount --bind -o ro "$conf" "$dir/etc/gatehouse"
}

# in_image IMAGE NAME COMMAND...: COMMAND in the image's filesystem as its user, with
# only the image's environment.
in_image() {
  local image=$1 dir=$scratch/$2 env=()
  shift 2
  mapfile -t env < <(image_config "$image" Env)
  env -i "${env[@]}" "$(command -v chroot)" --userspec="$(image_config "$image" User)" "$dir" "$@"
}

# start_in_image LOG IMAGE NAME COMMAND...: in_image in the background, its output to
# LOG. The subshell execs the command, so $! is the entrypoint itself and SIGTERM
# reaches it (as a runtime's stop would), not a shell in between.
start_in_image() {
  local log=$1 image=$2 dir=$scratch/$3 env=() user
  shift 3
  mapfile -t env < <(image_config "$image" Env)
  user="$(image_config "$image" User)"
  (exec env -i "${env[@]}" "$(command -v chroot)" --userspec="$user" "$dir" "$@") >"$log" 2>&1 &
}

# entrypoint IMAGE: ENTRYPOINT then CMD, one word a line
entrypoint() {
  image_config "$1" Entrypoint
  image_config "$1" Cmd
}

# healthcheck IMAGE NAME: runs the image's HEALTHCHECK command
healthcheck() {
  local words=()
  mapfile -t words < <(image_config "$1" Healthcheck)
  [[ ${words[0]:-} == CMD ]] || fail "$1 has no exec-form HEALTHCHECK (got: ${words[*]:-none})"
  in_image "$1" "$2" "${words[@]:1}"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
  local url=$1 what=$2
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "$what did not answer $url within 30 s"
}

# stop PID WHAT: SIGTERM, then it must exit 0 within 30 s.
stop() {
  local pid=$1 what=$2 code=0
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && fail "$what did not stop within 30 s of SIGTERM"
  wait "$pid" || code=$?
  [[ $code == 0 ]] || fail "$what exited $code after SIGTERM"
}

cp_port="$(free_port)"
up_port="$(free_port)"
token="image-test-token"

mkdir -p "$scratch/cp-etc" "$scratch/agent-etc"
cat >"$scratch/cp-etc/gatehouse.toml" <<CONF
listen = "127.0.0.1:$cp_port"
public_url = "http://127.0.0.1:$cp_port"
database = "sqlite:///var/lib/gatehouse/gatehouse.db"

[[servers]]
name = "everything"
agent = "edge"

[dev]
tokens = [{ token = "$token", user = "alice", groups = ["engineers"] }]
CONF

say "control plane: $cp_image"
open_image "$cp_image" cp "$scratch/cp-etc"
in_image "$cp_image" cp /usr/local/bin/gatehouse config check >/dev/null || fail "config check refused the test config"
agent_token="$(in_image "$cp_image" cp /usr/local/bin/gatehouse agents create edge --by image-test | sed -n 3p)"
[[ -n $agent_token ]] || fail "gatehouse agents create printed no token"
mapfile -t cp_cmd < <(entrypoint "$cp_image")
start_in_image "$scratch/cp.log" "$cp_image" cp "${cp_cmd[@]}" --dev
cp_pid=$!
pids+=("$cp_pid")
base="http://127.0.0.1:$cp_port"
wait_http "$base/healthz" "the control plane (log: $(tail -5 "$scratch/cp.log"))"
say "  /healthz answers"
healthcheck "$cp_image" cp >/dev/null 2>&1 || fail "the control plane's HEALTHCHECK failed"
say "  HEALTHCHECK passes"
index="$(curl -fsS "$base/")"
grep -qi '<!doctype html' <<<"$index" || fail "/ is not the dashboard: ${index:0:200}"
asset="$(grep -o '/assets/[^"]*\.js' <<<"$index" | head -1)"
[[ -n $asset ]] || fail "the dashboard's index names no script"
curl -fsS -o /dev/null "$base$asset" || fail "the dashboard's $asset is not served"
say "  the dashboard is served ($asset)"

say "agent: $agent_image"
printf '%s\n' "$agent_token" >"$scratch/agent-etc/agent-token"
chown 10001:10001 "$scratch/agent-etc/agent-token"
chmod 0400 "$scratch/agent-etc/agent-token"
cat >"$scratch/agent-etc/agent.toml" <<CONF
control_plane = "ws://127.0.0.1:$cp_port"
token = "file:/etc/gatehouse/agent-token"

[reconnect]
initial_ms = 200
max_ms = 1000

[[servers]]
name = "everything"
url = "http://127.0.0.1:$up_port/mcp"
CONF
tests/peers/start-everything-http.sh "$up_port" >"$scratch/upstream.log" 2>&1 &
pids+=("$!")
open_image "$agent_image" agent "$scratch/agent-etc"
healthcheck "$agent_image" agent >/dev/null 2>&1 || fail "the agent's HEALTHCHECK (config check) failed"
say "  HEALTHCHECK passes"
mapfile -t agent_cmd < <(entrypoint "$agent_image")
start_in_image "$scratch/agent.log" "$agent_image" agent "${agent_cmd[@]}"
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$up_port") 2>/dev/null && break; sleep 0.2; done

say "an MCP call: client -> control plane image -> agent image -> MCP server"
result=""
for _ in $(seq 1 60); do
  result="$(python3 tests/deploy/mcp_call.py "$base/mcp/everything" "$token" echo '{"message":"through both images"}' 2>"$scratch/call.err")" && break
  result=""
  sleep 0.5
done
[[ $result == *"through both images"* ]] || fail "the call did not come back: $(cat "$scratch/call.err") (agent log: $(tail -5 "$scratch/agent.log"))"
say "  answered: $result"

stop "$agent_pid" "the agent"
stop "$cp_pid" "the control plane"
say "  both stopped cleanly on SIGTERM"
sessions="$(in_image "$cp_image" cp /usr/local/bin/gatehouse sessions list)"
grep -q everything <<<"$sessions" || fail "the call's session is not recorded: $sessions"
in_image "$cp_image" cp /usr/local/bin/gatehouse audit verify >/dev/null || fail "audit verify failed on the image's store"
say "  the session is recorded and the audit log verifies"
say "passed"
