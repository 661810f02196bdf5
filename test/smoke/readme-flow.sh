#!/usr/bin/env bash
# Starts the server as the README says (`npm start`, embedded PostgreSQL, fresh data folder)
# and runs the README's two walk-throughs exactly as written, on a free port: the HTTPie
# block, then `npm run db:reset -- --yes` as the README offers, then the curl block.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in http jq curl; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is missing (apt-get install httpie jq curl)"; exit 1; }
done

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=$(free_port)
data=$(mktemp -d /tmp/microblog-smoke-XXXXXX)
chmod 755 "$data" # reachable by the postgres user when running as root
log="$data/server.log"
# The data folder, shared by the server and `npm run db:reset`, so that both use one database.
export EMBEDDED_PG_DATA_DIR="$data/pg"

# Its own process group, so that stopping it is what Ctrl-C in a terminal does.
PORT=$port setsid npm start >"$log" 2>&1 &
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

# The ```sh block under a README heading, with the port changed and nothing else.
block() {
  local text
  text=$(awk -v heading="$1" '$0 == heading {on=1} on && /^```sh/ {grab=1; next} grab && /^```/ {exit} grab' README.md)
  [ -n "$text" ] || { echo "smoke: no block under '$1' in README.md" >&2; return 1; }
  printf '%s\n' "${text//:5000\//:$port/}"
}

# Runs a block as a script would (stdin not a terminal) and checks that what it printed
# holds each expected piece, in order.
run_block() {
  local heading=$1 flow out rest piece
  shift
  flow=$(block "$heading")
  echo "--- $heading"
  out=$(bash -euo pipefail -c "$flow" </dev/null) || { echo "$out"; echo "smoke: '$heading' failed"; cat "$log"; exit 1; }
  echo "$out"
  rest=$out
  for piece in "$@"; do
    [[ $rest == *"$piece"* ]] || { echo "smoke: '$heading': expected to see, next, $piece"; cat "$log"; exit 1; }
    rest=${rest#*"$piece"}
  done
}

# On a fresh or emptied database susan is user 1 and david user 2.
susan='{"id":1,"username":"susan","email":"susan@example.com"'
hello='"about_me":"Hello, my name is Susan!"'
changed='"about_me":"Hi, I am Susan"'
followed='{"items":[{"id":2,"username":"david"'
one='"total_items":1'
post='{"id":1,"body":"Hello, world!","timestamp"'
feed='{"items":[{"id":1,"body":"Hello, world!"'
revoked='{"error":"Unauthorized"'

# HTTPie prints bodies only when its output is not a terminal, and nothing for a 204.
run_block '### With HTTPie' "$susan" "$hello" "$changed" "$followed" "$one" "$post" "$feed" "$one" "$revoked"

echo "--- npm run db:reset -- --yes"
npm run db:reset -- --yes >>"$log" 2>&1 || { cat "$log"; echo "smoke: npm run db:reset failed"; exit 1; }

run_block '### With curl' "$susan" "$hello" "$changed" 204 "$followed" "$one" "$post" "$feed" "$one" 204 "$revoked"

kill -INT -- -"$server"
wait "$server" && status=0 || status=$?
# npm itself reports the SIGINT it got (130); the server's own exit is what matters.
case "$status" in 0|130) ;; *) cat "$log"; echo "smoke: npm start exited with $status on Ctrl-C"; exit 1 ;; esac
grep -q '"msg":"stopped"' "$log" || { cat "$log"; echo "smoke: the server did not shut down cleanly"; exit 1; }
if pgrep -f "postgres -D $data/pg" >/dev/null; then echo "smoke: the embedded PostgreSQL outlived the server"; exit 1; fi
echo "smoke: README walk-throughs passed"
