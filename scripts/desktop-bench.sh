#!/usr/bin/env bash
# Figures for the tray app: build time, binary size, idle resident memory and CPU.
# Idle = started under Xvfb with a D-Bus session, set up for a gateway that is not
# running (so it is signed out, retrying nothing heavy), window hidden, measured over
# $IDLE_SECONDS (default 30) from /proc for the app and its WebKit helper processes.
#
# Usage: scripts/desktop-bench.sh [--rebuild]
#   --rebuild  also time an incremental rebuild (touch src/main.rs) of the app.
# The cold build time is read from $COLD_LOG (a `/usr/bin/time -v cargo build` log) if present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/desktop/app/target}"
idle="${IDLE_SECONDS:-30}"
profile="${PROFILE:-debug}"
bin="$CARGO_TARGET_DIR/$profile/gatehouse-desktop"
cold_log="${COLD_LOG:-/tmp/desktop-build1.log}"

rebuild="n/a"
if [[ "${1:-}" == "--rebuild" ]]; then
  touch "$root/desktop/app/src/main.rs"
  start=$(date +%s.%N)
  flag=(); [[ "$profile" == release ]] && flag=(--release)
  (cd "$root/desktop/app" && cargo build -j 2 "${flag[@]}" >/dev/null 2>&1)
  rebuild="$(printf '%.1f s' "$(echo "$(date +%s.%N) - $start" | bc)")"
fi
[[ -x "$bin" ]] || { echo "desktop-bench: $bin is missing: build desktop/app first" >&2; exit 1; }

cold="n/a"; peak="n/a"
if [[ -f "$cold_log" ]]; then
  cold="$(grep -m1 'Elapsed (wall clock)' "$cold_log" | awk '{print $NF}' || true)"
  kb="$(grep -m1 'Maximum resident set size' "$cold_log" | awk '{print $NF}' || true)"
  [[ -n "$kb" ]] && peak="$((kb / 1024)) MB"
fi
size="$(du -h "$bin" | cut -f1)"
stripped="$(strip -o /tmp/gatehouse-desktop.stripped "$bin" && du -h /tmp/gatehouse-desktop.stripped | cut -f1)"

home="$(mktemp -d)"
cat > "$home/measure.sh" <<'INNER'
#!/usr/bin/env bash
set -euo pipefail
bin="$1"; home="$2"; idle="$3"
GATEHOUSE_DESKTOP_HOME="$home" GATEHOUSE_URL=http://127.0.0.1:9 GATEHOUSE_ISSUER=http://127.0.0.1:9 \
  GATEHOUSE_CLIENT_ID=gatehouse-desktop GATEHOUSE_KEYRING=off RUST_LOG=warn "$bin" >/dev/null 2>&1 &
pid=$!
sleep 8  # start-up settles
tree() { echo "$pid"; pgrep -P "$pid" || true; for c in $(pgrep -P "$pid" || true); do pgrep -P "$c" || true; done; }
ticks() { local t=0; for p in $(tree); do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
rss() { local k=0; for p in $(tree); do [[ -r /proc/$p/status ]] && k=$((k + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done; echo $k; }
own_rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$idle"
t1=$(ticks); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu=$(echo "scale=2; 100 * ($t1 - $t0) / $hz / ($s1 - $s0)" | bc)
echo "$own_rss $(rss) $cpu $(tree | wc -l)" > "$home/figures"
kill "$pid"
INNER
chmod +x "$home/measure.sh"
xvfb-run -a -s "-screen 0 1024x768x24" dbus-run-session -- "$home/measure.sh" "$bin" "$home" "$idle" >/dev/null 2>&1
read -r own total cpu procs < "$home/figures"
rm -rf "$home"

printf '%-36s %s\n' "figure" "value"
printf '%-36s %s\n' "------" "-----"
printf '%-36s %s\n' "cold build (deps + app, -j 2)" "$cold"
printf '%-36s %s\n' "cold build peak memory" "$peak"
printf '%-36s %s\n' "incremental rebuild (app only)" "$rebuild"
printf '%-36s %s\n' "binary ($profile)" "$size"
printf '%-36s %s\n' "binary ($profile, stripped)" "$stripped"
printf '%-36s %s\n' "idle RSS, app process" "$((own / 1024)) MB"
printf '%-36s %s\n' "idle RSS, app + $((procs - 1)) helper processes" "$((total / 1024)) MB"
printf '%-36s %s\n' "idle CPU over ${idle} s (all processes)" "${cpu} %"
