#!/usr/bin/env bash
# `npm run test:contract`: Schemathesis, pinned in test/contract/requirements.txt (with
# hashes), against the server built and started as in production but with response
# validation on: embedded PostgreSQL in a throwaway folder, a free port, rate limits raised
# so that 429s do not hide answers. A real user and token authenticate the run.
# CONTRACT_SEED replays a run; CONTRACT_MAX_EXAMPLES bounds it (the default keeps it under
# five minutes on two cores). The server ends each notification stream after a second
# (NOTIFICATIONS_STREAM_MAX_SECONDS=1), so that no request waits on one. The server and its
# database are stopped whatever happens.
# CONTRACT_API=http://host:port/api runs it against a server of one's own instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

here=test/contract
venv=.venv-contract
seed=${CONTRACT_SEED:-20261202}
max_examples=${CONTRACT_MAX_EXAMPLES:-100}

# The virtual environment is made on the first run and again when the requirements change.
stamp="$venv/requirements.sha256"
wanted=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$here/requirements.txt"
  echo "$wanted" >"$stamp"
fi

token_of() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

if [ -n "${CONTRACT_API:-}" ]; then
  # A server of one's own: nothing is started or stopped here.
  api=${CONTRACT_API%/}
  data=$(mktemp -d /tmp/microblog-contract-XXXXXX)
  log=/dev/null
  report="$data/report"
  trap '[ -n "${KEEP_CONTRACT:-}" ] || rm -rf "$data"' EXIT
else
  npm run build --silent

  free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
  port=$(free_port)
  data=$(mktemp -d /tmp/microblog-contract-XXXXXX)
  chmod 755 "$data" # reachable by the postgres user when running as root
  log="$data/server.log"
  report="$data/report"

  # Its own process group, so that SIGINT stops the server and its PostgreSQL as Ctrl-C would.
  NODE_ENV=production RESPONSE_VALIDATION=true PORT=$port HOST=127.0.0.1 \
    EMBEDDED_PG_DATA_DIR="$data/pg" SHUTDOWN_DELAY_MS=0 \
    RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_FAILED_LOGINS_PER_ACCOUNT=1000000000 \
    RATE_LIMIT_FAILED_LOGINS_PER_ADDRESS=1000000000 \
    RATE_LIMIT_PASSWORD_RESETS_PER_EMAIL=1000000000 RATE_LIMIT_PASSWORD_RESETS_PER_ADDRESS=1000000000 \
    RATE_LIMIT_MESSAGES=1000000000 NOTIFICATIONS_STREAM_MAX_SECONDS=1 \
    setsid node dist/src/main.js >"$log" 2>&1 &
  server=$!
  cleanup() {
    kill -INT -- -"$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    [ -n "${KEEP_CONTRACT:-}" ] || rm -rf "$data"
  }
  trap cleanup EXIT

  api="http://127.0.0.1:$port/api"
  for _ in $(seq 1 120); do
    curl -fsS "$api" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; echo "contract: the server exited"; exit 1; }
    sleep 0.5
  done
fi

# A user of the run's own, which the run may change (its password too) and log out.
CONTRACT_USERNAME="contract_$(node -e 'console.log(require("crypto").randomBytes(6).toString("hex"))')"
CONTRACT_PASSWORD='contract tests password'
curl -fsS -X POST "$api/users" -H 'Content-Type: application/json' >/dev/null \
  -d "{\"username\": \"$CONTRACT_USERNAME\", \"email\": \"$CONTRACT_USERNAME@example.com\", \"password\": \"$CONTRACT_PASSWORD\"}" ||
  { echo "contract: could not register a user at $api/users"; exit 1; }
tokens=$(curl -fsS -X POST "$api/tokens" -u "$CONTRACT_USERNAME:$CONTRACT_PASSWORD") ||
  { echo "contract: $CONTRACT_USERNAME could not log in at $api/tokens"; exit 1; }
CONTRACT_TOKEN=$(printf %s "$tokens" | token_of token)
CONTRACT_USER_ID=$(printf %s "$tokens" | token_of user_id)
CONTRACT_SESSION_ID=$(printf %s "$tokens" | token_of session_id)
# Another user follows the run's user and writes to it, so that its notifications (the
# list, the stream's events) are not empty.
other="contract_other_$(node -e 'console.log(require("crypto").randomBytes(6).toString("hex"))')"
curl -fsS -X POST "$api/users" -H 'Content-Type: application/json' >/dev/null \
  -d "{\"username\": \"$other\", \"email\": \"$other@example.com\", \"password\": \"$CONTRACT_PASSWORD\"}" &&
  other_tokens=$(curl -fsS -X POST "$api/tokens" -u "$other:$CONTRACT_PASSWORD") &&
  other_token=$(printf %s "$other_tokens" | token_of token) &&
  other_id=$(printf %s "$other_tokens" | token_of user_id) &&
  curl -fsS -X PUT "$api/users/$other_id/followed/$CONTRACT_USER_ID" -H "Authorization: Bearer $other_token" >/dev/null &&
  curl -fsS -X POST "$api/users/$CONTRACT_USER_ID/messages" -H "Authorization: Bearer $other_token" \
    -H 'Content-Type: application/json' -d '{"body": "Hello from the contract run"}' >/dev/null ||
  { echo "contract: could not make notifications for $CONTRACT_USERNAME"; exit 1; }

export CONTRACT_USERNAME CONTRACT_PASSWORD CONTRACT_USER_ID CONTRACT_TOKEN CONTRACT_SESSION_ID CONTRACT_API=$api CONTRACT_HOOKS=$PWD/$here/hooks.py

echo "contract: Schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against $api/openapi.json, seed $seed (CONTRACT_SEED=$seed npm run test:contract replays it)"
status=0
"$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$api/openapi.json" \
  --seed "$seed" --max-examples "$max_examples" --workers 1 --no-color \
  --report ndjson --report-dir "$report" || status=$?

# Requests per phase, from the run's event stream.
node "$here/requests-per-phase.mjs" "$report"/*.ndjson || true
if [ "$status" -ne 0 ]; then
  echo "contract: Schemathesis failed (exit $status)"
  [ "$log" = /dev/null ] || { echo "contract: the server's log follows"; tail -n 50 "$log"; }
fi
exit "$status"
