#!/usr/bin/env bash
# Starts the server as the README says (`npm start`, embedded PostgreSQL, fresh data folder)
# and runs the README's curl walk-through exactly as written, on a free port.
set -euo pipefail
cd "$(dirname "$0")/../.."

port=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
pg_port=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
data=$(mktemp -d /tmp/microblog-smoke-XXXXXX)
chmod 755 "$data" # reachable by the postgres user when running as root
log="$data/server.log"

# Its own process group, so that stopping it is what Ctrl-C in a terminal does.
PORT=$port EMBEDDED_PG_PORT=$pg_port EMBEDDED_PG_DATA_DIR="$data/pg" setsid npm start >"$log" 2>&1 &
server=$!
cleanup() {
  kill -INT -- -"$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  [ -n "${KEEP_SMOKE:-}" ] || rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
  curl -fsS "http://localhost:$port/api" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "smoke: the server exited"; exit 1; }
  sleep 0.5
done

flow=$(awk '/^### Walk-through with curl/{on=1} on&&/^```sh/{grab=1;next} grab&&/^```/{exit} grab' README.md)
[ -n "$flow" ] || { echo "smoke: no curl walk-through found in README.md"; exit 1; }
flow=${flow//localhost:5000/localhost:$port}

out=$(bash -euo pipefail -c "$flow")
echo "$out"
expect() { grep -q -- "$1" <<<"$out" || { echo "smoke: expected to see $1"; cat "$log"; exit 1; }; }
expect '"username":"susan","email":"susan@example.com"'
expect '"about_me":"Hi, I am Susan"'
expect '"username":"david"'
expect '"total_items":1'
expect '"body":"Hello, world!","timestamp"'
[ "$(tail -n 1 <<<"$out")" = 204 ] || { echo "smoke: the token was not revoked"; exit 1; }

kill -INT -- -"$server"
wait "$server" && status=0 || status=$?
# npm itself reports the SIGINT it got (130); the server's own exit is what matters.
case "$status" in 0|130) ;; *) cat "$log"; echo "smoke: npm start exited with $status on Ctrl-C"; exit 1 ;; esac
grep -q '"msg":"stopped"' "$log" || { cat "$log"; echo "smoke: the server did not shut down cleanly"; exit 1; }
if pgrep -f "postgres -D $data/pg" >/dev/null; then echo "smoke: the embedded PostgreSQL outlived the server"; exit 1; fi
echo "smoke: README walk-through passed"
