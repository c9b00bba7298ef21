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

# Seconds a demo may run before it counts as hung.
DEMO_TIMEOUT=${DEMO_TIMEOUT:-60}
read -r -a wrapper <<<"${DEMO_WRAPPER:-}"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
bindir=$build/examples

for demo in "${DEMOS[@]}"; do
    read -r -a argv <<<"$demo"
    exe=$bindir/${argv[0]}
    if [[ ! -x $exe ]]; then
        echo "run_demos: $exe is missing (listed in DEMOS; build first)" >&2
        exit 1
    fi
    echo "==== ${demo}"
    status=0
    timeout "$DEMO_TIMEOUT" "${wrapper[@]}" "$exe" "${argv[@]:1}" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "run_demos: ${demo} failed with status $status" >&2
        exit 1
    fi
done
echo "==== all ${#DEMOS[@]} demos passed"
