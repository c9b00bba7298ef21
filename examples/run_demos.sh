#!/usr/bin/env bash
# Run the example programs in order; stop at the first failure.
#
#   examples/run_demos.sh [BUILD_DIR]     (default: build)
#
# To add a demo, append "<executable> [arguments...]" to DEMOS.  A listed
# demo whose executable is missing is an error, never skipped.
# DEMO_WRAPPER, if set, is a command put before each demo (ctest's "demos"
# test uses it for valgrind or qemu); DEMO_TIMEOUT bounds each demo.
set -euo pipefail

DEMOS=(
    "hello_greenlets"
    "echo_server --demo" "http_hello --demo" "http_hello --demo --threads 2" "crawler 100"
    "router_agent" "rpc_consumer" "graceful_server --demo" "chat_server --demo"
    "fetcher 200" "pipeline"
)

# Seconds a demo may run before it counts as hung (echo_server --demo
# took over 60 s under valgrind on a loaded machine).
DEMO_TIMEOUT=${DEMO_TIMEOUT:-180}
read -r -a wrapper <<<"${DEMO_WRAPPER:-}"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
bindir=$build/examples

# run_demo EXECUTABLE [ARGUMENTS...]: run one demo, stop on its failure.
run_demo() {
    local exe=$bindir/$1 status=0
    if [[ ! -x $exe ]]; then
        echo "run_demos: $exe is missing (listed in DEMOS; build first)" >&2
        exit 1
    fi
    echo "==== $*"
    timeout "$DEMO_TIMEOUT" "${wrapper[@]}" "$exe" "${@:2}" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "run_demos: $* failed with status $status" >&2
        exit 1
    fi
}

for demo in "${DEMOS[@]}"; do
    read -r -a argv <<<"$demo"
    run_demo "${argv[@]}"
done

# A build with TLS (examples/demos.env) runs the TLS demos too, with a CA
# and a certificate for localhost made by the openssl command.
GREEN_HAVE_TLS=OFF
[[ ! -f $bindir/demos.env ]] || source "$bindir/demos.env"
if [[ $GREEN_HAVE_TLS != ON ]]; then
    echo "==== all ${#DEMOS[@]} demos passed (built without TLS: no TLS demos)"
    exit 0
fi
if ! command -v openssl >/dev/null; then
    echo "run_demos: the TLS demos need the openssl command" >&2
    exit 1
fi
pki=$(mktemp -d)
trap 'rm -rf "$pki"' EXIT
# new_key_request NAME SUBJECT: a P-256 key NAME.key and its request.
new_key_request() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2" 2>/dev/null
}
new_key_request ca /CN=demo-ca
openssl x509 -req -in "$pki/ca.csr" -key "$pki/ca.key" -days 2 \
    -extfile <(echo "basicConstraints=critical,CA:TRUE") -out "$pki/ca.pem" 2>/dev/null
new_key_request server /CN=localhost
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -set_serial 2 -days 2 -out "$pki/server.pem" 2>/dev/null \
    -extfile <(echo "subjectAltName=DNS:localhost,IP:127.0.0.1")

run_demo tls_echo_server --demo "$pki/ca.pem" "$pki/server.pem" "$pki/server.key"

# https_get fetches one page from http_hello --tls, which then exits.
echo "==== http_hello --tls (one request) and https_get"
timeout "$DEMO_TIMEOUT" "${wrapper[@]}" "$bindir/http_hello" --requests 1 \
    --address 127.0.0.1:0 --tls "$pki/server.pem" "$pki/server.key" \
    >"$pki/server.out" &
server=$!
for ((i = 0; i < DEMO_TIMEOUT * 10; i++)); do
    [[ ! -s $pki/server.out ]] || break
    sleep 0.1
done
port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\) .*/\1/p' "$pki/server.out")
if [[ -z $port ]]; then
    echo "run_demos: http_hello --tls did not start" >&2
    exit 1
fi
run_demo https_get --cafile "$pki/ca.pem" "https://localhost:$port/" | tee "$pki/page"
if ! grep -q "Hello, World!" "$pki/page" || ! wait "$server"; then
    echo "run_demos: https_get from http_hello --tls failed" >&2
    exit 1
fi
echo
echo "==== all $((${#DEMOS[@]} + 2)) demos passed, TLS ones included"
