#!/usr/bin/env bash
# Desktop smoke test: runs the desktop build under Xvfb in a private D-Bus session with a
# throwaway HOME, and checks that the router answers, the settings window loads the page
# (screenshot: target/desktop-smoke.png), the tray lists the ranking and a click on it pins
# (with trayer as the tray; target/desktop-tray.png), start-on-login follows the config, a
# second launch hands over to the first, a taken port is explained, a display-less start
# falls back to the headless router, and SIGTERM stops everything with exit code 0 and the
# port closed.
# Nothing reaches the internet: probes, keyless providers and update checks are off.
#
# Usage: .ci/desktop-smoke.sh [path/to/modelrelay]   (default: $CARGO_TARGET_DIR/debug/modelrelay)
# Needs: Xvfb, dbus-run-session, curl, xdotool, ImageMagick's `import`, python3; trayer for
# the tray clicks (skipped without it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
bin="${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/modelrelay}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
[ -x "$bin" ] || { echo "desktop-smoke: no binary at $bin; run cargo build --features desktop" >&2; exit 1; }

# A throwaway home for everything the app, WebKit and D-Bus-activated services write. Set
# before the D-Bus session starts, so the services it activates use it too.
if [ -z "${MODELRELAY_SMOKE_WORK:-}" ]; then
  work="$(mktemp -d)"
  export HOME="$work/home"
  export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
  export XDG_CACHE_HOME="$HOME/.cache" XDG_RUNTIME_DIR="$work/run"
  mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  # Its own D-Bus session, or GLib would start a stray bus daemon that outlives the test.
  status=0
  MODELRELAY_SMOKE_WORK="$work" dbus-run-session -- "$0" "$bin" || status=$?
  rm -rf "$work"
  exit "$status"
fi

work="$MODELRELAY_SMOKE_WORK"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

unset WAYLAND_DISPLAY
export RUST_LOG="${RUST_LOG:-info}" NO_AT_BRIDGE=1
# Belt and braces: checks are off in the config, and a check would go to a closed local port.
export MODELRELAY_UPDATE_ENDPOINT="http://127.0.0.1:9/latest.json"
config="$work/modelrelay.json"
write_config() { # the two local endpoints point at the fake upstream on port $1
  cat >"$config" <<JSON
{"autoPingEnabled": false,
 "autoUpdate": {"enabled": false},
 "providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false},
   "openai-compatible:one": {"enabled": true, "name": "One", "baseUrl": "http://127.0.0.1:$1/v1",
                             "modelId": "first-coder", "discoverModels": false},
   "openai-compatible:two": {"enabled": true, "name": "Two", "baseUrl": "http://127.0.0.1:$1/v1",
                             "modelId": "second-coder", "discoverModels": false}}}
JSON
}

# A local OpenAI-compatible upstream that answers every chat with "ok" after 50 ms.
cat >"$work/upstream.py" <<'PY'
import json, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Upstream(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def answer(self, body):
        body = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer({"object": "list", "data": []})
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        time.sleep(0.05)
        self.answer({"id": "smoke", "object": "chat.completion", "created": 0, "model": request.get("model"),
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
print(server.server_address[1], flush=True)
server.serve_forever()
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
base="http://127.0.0.1:$port"
step() { echo "-- $*"; }
fail() {
  echo "desktop-smoke: FAILED: $*" >&2
  for log in "$work"/*.log; do echo "== $log" >&2; tail -n 40 "$log" >&2; done
  exit 1
}
wait_for() { # seconds, description, command...
  local seconds="$1" what="$2"; shift 2
  for _ in $(seq 1 $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  fail "$what (waited ${seconds}s)"
}
api() { curl -sf -H 'content-type: application/json' "$@"; }
# Waits (at most 30 s) for a process we started; its exit code lands in $code. Not in a
# subshell: only this shell can wait for its children.
reap() {
  local pid="$1"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && fail "process $pid still running 30 s after SIGTERM"
  code=0
  wait "$pid" || code=$?
}

step "Xvfb, a tray host and a local upstream"
exec 3>"$work/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
exec 3>&-
wait_for 10 "Xvfb did not start" test -s "$work/display"
export DISPLAY=":$(head -n1 "$work/display")"
# trayer is an XEmbed tray, so the icon can be clicked (without one it is simply invisible).
if command -v trayer >/dev/null; then
  trayer --edge top --align right --widthtype pixel --width 120 --heighttype pixel --height 28 \
    >"$work/trayer.log" 2>&1 &
  pids+=($!)
fi
python3 "$work/upstream.py" >"$work/upstream.port" 2>"$work/upstream.log" &
pids+=($!)
wait_for 10 "the local upstream did not start" test -s "$work/upstream.port"
write_config "$(head -n1 "$work/upstream.port")"

step "start the app on port $port ($DISPLAY)"
started=$(date +%s%N)
MODELRELAY_SHOW_SETTINGS=1 "$bin" --config "$config" --port "$port" >"$work/app.log" 2>&1 &
app=$!
pids+=("$app")
wait_for 60 "the router did not answer on $base/health" curl -sf "$base/health"
echo "router answered after $(( ($(date +%s%N) - started) / 1000000 )) ms"
curl -sf "$base/v1/models" | grep -q '"auto-fastest"' || fail "/v1/models has no auto-fastest"
api "$base/api/status" | grep -q "\"version\"" || fail "/api/status has no version"

step "settings window"
wait_for 60 "the settings window did not load the page" grep -q "settings window loaded $base/" "$work/app.log"
xdotool search --name '^modelrelay$' >/dev/null || fail "no window named modelrelay"
sleep 6 # let WebKit paint the live data (a debug build is slow)
mkdir -p "$repo/target"
import -window root "$repo/target/desktop-smoke.png"
echo "screenshot: target/desktop-smoke.png"

step "the tray follows the ranking; a click pins"
api "$base/v1/chat/completions" \
  -d '{"model": "openai-compatible:two/second-coder", "messages": [{"role": "user", "content": "hi"}]}' \
  | grep -q '"ok"' || fail "a chat through the router to the local upstream failed"
if command -v trayer >/dev/null; then
  wait_for 20 "no tray icon in the tray" xdotool search --classname "tray-icon tray app main"
  icon="$(xdotool search --classname "tray-icon tray app main" | head -n1)"
  eval "$(xdotool getwindowgeometry --shell "$icon")"
  sleep 2 # the menu follows rankings at most once a second
  xdotool mousemove $((X + WIDTH / 2)) $((Y + HEIGHT / 2)) click 1
  sleep 1.5
  import -window root "$repo/target/desktop-tray.png"
  echo "screenshot: target/desktop-tray.png"
  # The header line is disabled, so the first Down selects the fastest model.
  xdotool key Down Return
  wait_for 10 "clicking the fastest model did not pin it" \
    sh -c "curl -sf '$base/api/pinned' | grep -q '\"modelId\":\"second-coder\"'"
  grep -q '"modelId": "second-coder"' "$config" || fail "the pin was not saved in the config file"
else
  echo "(trayer is not installed: tray clicks not tested)"
fi

step "start on login follows the config"
entry="$HOME/.config/autostart/modelrelay.desktop"
[ ! -e "$entry" ] || fail "an autostart entry exists before anyone asked"
api -X POST "$base/api/settings" -d '{"autostart": {"enabled": true}}' >/dev/null || fail "POST /api/settings"
wait_for 10 "no autostart entry after enabling it" test -f "$entry"
grep -q "^Exec=$bin" "$entry" || fail "the autostart entry does not start $bin: $(cat "$entry")"
api -X POST "$base/api/settings" -d '{"autostart": {"enabled": false}}' >/dev/null || fail "POST /api/settings"
wait_for 10 "the autostart entry stayed after disabling it" test ! -e "$entry"
api "$base/api/settings" | grep -q '"autostart":{"enabled":false}' || fail "settings do not show autostart off"

step "a second launch hands over to the first"
timeout 30 "$bin" --config "$config" --port "$port" >"$work/second.log" 2>&1 \
  || fail "the second launch exited with $?"
wait_for 10 "the first instance was not told" grep -q "launched again" "$work/app.log"
curl -sf "$base/health" >/dev/null || fail "the first instance stopped serving"

step "SIGTERM stops the app cleanly"
kill -TERM "$app"
reap "$app"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
curl -s "$base/health" >/dev/null && fail "port $port still answers after quitting"
grep -q "the router has stopped" "$work/app.log" || fail "the router did not shut down gracefully"
grep -q "did not finish within" "$work/app.log" && fail "the shutdown waited out its grace period"
echo "exit code 0; port $port closed"

step "a taken port is explained"
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(120)' "$port" &
holder=$!
pids+=("$holder")
wait_for 10 "could not hold port $port" python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port"
"$bin" --config "$config" --port "$port" >"$work/conflict.log" 2>&1 &
conflict=$!
pids+=("$conflict")
wait_for 30 "no plain message about the port" grep -q "another program" "$work/conflict.log"
wait_for 30 "no window explaining the port" xdotool search --name "Port $port is already in use"
kill -TERM "$conflict"
reap "$conflict"
[ "$code" = 1 ] || fail "exit code $code when the port was taken (want 1)"
kill "$holder" 2>/dev/null || true

step "no display: the headless router"
port2="$(free_port)"
env -u DISPLAY "$bin" --config "$config" --port "$port2" >"$work/headless.log" 2>&1 &
headless=$!
pids+=("$headless")
wait_for 30 "the display-less start did not serve" curl -sf "http://127.0.0.1:$port2/health"
grep -q "no display" "$work/headless.log" || fail "the fallback was not logged"
kill -TERM "$headless"
reap "$headless"
[ "$code" = 0 ] || fail "headless exit code $code after SIGTERM"

echo "desktop smoke: all checks passed"
