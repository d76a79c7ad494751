# Sourced by the wrk benchmarks: a temporary directory removed on exit, and `start_inlet ARGS...`,
# which starts `$bin serve --http 127.0.0.1:0 ARGS...` in the background, waits until it listens
# and sets `server` (its pid, stopped on exit) and `base` (its URL).
tmp=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start_inlet() {
  "$bin" serve --http 127.0.0.1:0 "$@" > "$tmp/stdout" 2> "$tmp/stderr" &
  server=$!
  for _ in $(seq 300); do
    grep -q '^inlet listening on ' "$tmp/stdout" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/stderr" >&2; exit 1; }
    sleep 0.05
  done
  base=$(sed -n 's/^inlet listening on //p' "$tmp/stdout")
  [ -n "$base" ] || { echo "inlet serve did not start" >&2; cat "$tmp/stderr" >&2; exit 1; }
}
