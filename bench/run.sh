#!/bin/sh
# Run every benchmark and print its TSV rows, then the same rows as a table
# and the ratio rows as a second table.
#
#   bench/run.sh [BUILD_DIR]      (default: build)
#
# Runs each executable in BUILD_DIR/bench/bin (Go programs, named go_*, with
# GOMAXPROCS=1 so they switch goroutines on one OS thread like libgreen),
# then each bench/*.sh script but this one, with BUILD_DIR as argument.
# Rows are benchmark<TAB>implementation<TAB>metric<TAB>value<TAB>unit.
# Exits non-zero if any benchmark fails; the others still run.
set -u

bench_dir=$(cd "$(dirname "$0")" && pwd)
build_dir=${1:-build}
bin_dir=$build_dir/bench/bin

if [ ! -d "$bin_dir" ]; then
    echo "run.sh: no $bin_dir; configure with -DGREEN_BUILD_BENCH=ON and build" >&2
    exit 2
fi

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
failed=

run_benchmark() {
    name=$1
    shift
    echo "# $name" >&2
    if ! "$@" >>"$rows"; then
        echo "run.sh: $name FAILED" >&2
        failed="$failed $name"
    fi
}

for program in "$bin_dir"/*; do
    [ -f "$program" ] && [ -x "$program" ] || continue
    case $(basename "$program") in
    go_*) run_benchmark "$program" env GOMAXPROCS=1 "$program" ;;
    *) run_benchmark "$program" "$program" ;;
    esac
done

for script in "$bench_dir"/*.sh; do
    [ "$script" = "$bench_dir/run.sh" ] && continue
    [ -f "$script" ] || continue
    run_benchmark "$script" sh "$script" "$build_dir"
done

tab=$(printf '\t')
cat "$rows"
echo
echo "== results (times: lower is better; rates, MB/s or k reads/s: higher) =="
grep -v "${tab}ratio\$" "$rows" | column -t -s "$tab"
echo
echo "== ratios: a/b = time(a) / time(b), below 1 means a is faster =="
grep "${tab}ratio\$" "$rows" | column -t -s "$tab"

if [ -n "$failed" ]; then
    echo "run.sh: FAILED:$failed" >&2
    exit 1
fi
