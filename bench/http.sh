#!/bin/sh
# HTTP "Hello, World!" on loopback, side by side in one run:
#   libgreen-1hub    examples/http_hello, one hub thread, epoll backend
#   libgreen-io_uring  the same on the io_uring backend (GREEN_HUB_BACKEND);
#                    skipped, with a note on stderr, where the hub falls
#                    back to epoll (libgreen built without liburing, or
#                    io_uring disabled): the server must hold an io_uring fd
#   epoll-c          bench/epoll_server.c, hand-written epoll (the limit)
#   go-nethttp       bench/go/http.go, net/http with GOMAXPROCS=1
#   gevent           bench/gevent_http.py, raw gevent StreamServer
#   libgreen-2hubs   examples/http_hello --threads 2 (SO_REUSEPORT) on two
#                    CPUs other than wrk's, against libgreen-1hub
# The one-core servers are pinned to one CPU and the client to another
# (taskset).  With fewer than three CPUs, two hubs cannot get two CPUs of
# their own: then libgreen-1hub-shared and libgreen-2hubs-shared compare one
# and two hubs with the server and wrk (2 threads for both) free to use
# every CPU.
# Two benchmarks, by client, each with HTTP_BENCH_CONNECTIONS keep-alive
# connections and one request in flight on each:
#   http       wrk (one thread), every server above.  wrk needs more CPU per
#              request than the one-core servers, so its requests row is
#              wrk's rate (util, the server's share of its CPU, stays well
#              below 1) and each server idles between small batches.
#   http-load  bench/http_load.c, an io_uring client that needs less CPU per
#              request than the servers, so that the server sets the rate
#              (util near 1): libgreen-1hub, libgreen-io_uring, epoll-c and
#              go-nethttp.  Built only with liburing.
# Rows: requests (req/s), p99 (ms), cpu (server user+system CPU time from
# /proc/PID/stat per completed request, us/req), util (cpu times requests:
# the CPU seconds per second the server used), each the median of
# HTTP_BENCH_ROUNDS rounds (default 5) that run every server in turn (every
# other round in reverse order); then ratio rows, each the median of the
# rounds' own ratios.
#
#   sh bench/http.sh BUILD_DIR
#
# Environment: HTTP_BENCH_DURATION (s, default 5), HTTP_BENCH_ROUNDS,
# HTTP_BENCH_CONNECTIONS (default 100), HTTP_BENCH_ONLY (the benchmarks to
# run, default "http http-load"), HTTP_BENCH_SERVERS (the names to run,
# default all), HTTP_BENCH_SERVER_CPU (default 0), HTTP_BENCH_WRK_CPU (the
# client's, default 1).  Implementations whose program is missing are
# skipped with a note on stderr.
set -u

build=${1:-build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/servers.sh"
duration=${HTTP_BENCH_DURATION:-5}
rounds=${HTTP_BENCH_ROUNDS:-5}
connections=${HTTP_BENCH_CONNECTIONS:-100}
server_cpu=${HTTP_BENCH_SERVER_CPU:-0}
wrk_cpu=${HTTP_BENCH_WRK_CPU:-1}
ticks_per_second=$(getconf CLK_TCK)
cpu_count=$(nproc)
all_cpus=0-$((cpu_count - 1))
wrk_cpus=$wrk_cpu
wrk_threads=1
# A second server CPU for two hubs: the first that is neither of the above.
second_cpu=0
while [ $second_cpu = "$server_cpu" ] || [ $second_cpu = "$wrk_cpu" ]; do
    second_cpu=$((second_cpu + 1))
done
port=$((20000 + $$ % 20000))
results=$(mktemp)
trap 'rm -f "$results"' EXIT
tab=$(printf '\t')
failed=0

load=$build/bench/bin/http_load
benchmarks=
for benchmark in ${HTTP_BENCH_ONLY:-http http-load}; do
    case $benchmark in
    http) command -v wrk >/dev/null 2>&1 || {
        echo "http.sh: wrk is not installed; no http rows" >&2
        continue
    } ;;
    http-load) [ -x "$load" ] || {
        echo "http.sh: no $load (libgreen without liburing): no" \
            "http-load rows" >&2
        continue
    } ;;
    *) echo "http.sh: unknown benchmark $benchmark" >&2; exit 2 ;;
    esac
    benchmarks="$benchmarks $benchmark"
done

wait_for_port() {
    i=0
    while [ $i -lt 100 ]; do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# Whether process $1 holds an io_uring instance.
has_io_uring() {
    ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'anon_inode:\[io_uring\]'
}

# run_server NAME CPUS PROGRAM [ARGS...]; "PORT" in ARGS becomes the port.
# Arguments must not hold spaces.  A NAME ending in io_uring must run an
# io_uring hub, else it is skipped.
run_server() {
    name=$1
    cpus=$2
    shift 2
    port=$((port + 1))
    set -- $(with_port "$port" "$@")
    taskset -c "$cpus" "$@" >/dev/null 2>&1 &
    pid=$!
    if ! wait_for_port "$port"; then
        echo "http.sh: $name did not start" >&2
        stop_server "$pid"
        failed=1
        return
    fi
    case $name in *io_uring)
        if ! has_io_uring "$pid"; then
            echo "http.sh: $name: no io_uring in the server (libgreen" \
                "without liburing, or fallback to epoll): skipped" >&2
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return
        fi ;;
    esac
    before=$(cpu_ticks "$pid")
    output=$(run_client 2>&1)
    status=$?
    after=$(cpu_ticks "$pid")
    stop_server "$pid"

    measured=$(client_figures "$output")
    if [ $status != 0 ] || [ -z "$measured" ]; then
        echo "http.sh: $benchmark $name: client failed:" >&2
        echo "$output" >&2
        failed=1
        return
    fi
    echo "$output" | grep -i "socket errors" >&2
    echo "$measured" | awk -v b="$benchmark" -v name="$name" \
        -v t=$((after - before)) -v hz="$ticks_per_second" \
        -v round="$run_rounds_round" '{
            printf "%s %s %s %s %.2f %s\n", b, name, $1 / $2, $3,
                t / hz * 1e6 / $1, round }' >>"$results"
}

# Run the benchmark's client against the server on $port.
run_client() {
    case $benchmark in
    http) taskset -c "$wrk_cpus" wrk -t"$wrk_threads" -c"$connections" \
        -d"${duration}s" --latency "http://127.0.0.1:$port/" ;;
    http-load) taskset -c "$wrk_cpus" "$load" "$port" "$duration" \
        "$connections" ;;
    esac
}

# "REQUESTS SECONDS P99_MS" from the client's output; nothing if it is
# unusable (no requests, or a response that was not 2xx).
client_figures() {
    case $benchmark in
    http) echo "$1" | awk '/requests in/ { n = $1 }
        /^Requests\/sec:/ { rate = $2 }
        /Non-2xx/ { bad = 1 }
        $1 == "99%" {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            if (u == "us") v /= 1000; else if (u == "s") v *= 1000
            p99 = v }
        END { if (n > 0 && rate > 0 && !bad) print n, n / rate, p99 }' ;;
    http-load) echo "$1" | awk 'NF == 3 && $1 > 0 { print }' ;;
    esac
}

hello=$build/examples/http_hello
epoll=$build/bench/bin/epoll_server
go=$build/bench/bin/go_http
python=/usr/bin/python3

if [ ! -x "$hello" ]; then
    echo "http.sh: $hello missing (build the examples)" >&2
    failed=1
fi
[ -x "$go" ] || echo "http.sh: no $go (go not installed?): skipped" >&2
have_gevent=0
if "$python" -c 'import gevent' 2>/dev/null; then
    have_gevent=1
else
    echo "http.sh: python3-gevent not installed: skipped" >&2
fi

# One server run by name.
run_named() {
    case $1 in
    libgreen-1hub)
        [ -x "$hello" ] && run_server libgreen-1hub "$server_cpu" \
            env GREEN_HUB_BACKEND=epoll "$hello" --address 127.0.0.1:PORT \
            --threads 1 ;;
    libgreen-io_uring)
        [ -x "$hello" ] && run_server libgreen-io_uring "$server_cpu" \
            env GREEN_HUB_BACKEND=io_uring "$hello" \
            --address 127.0.0.1:PORT --threads 1 ;;
    epoll-c)
        [ -x "$epoll" ] && run_server epoll-c "$server_cpu" "$epoll" PORT ;;
    go-nethttp)
        [ -x "$go" ] && run_server go-nethttp "$server_cpu" \
            env GOMAXPROCS=1 "$go" PORT ;;
    gevent)
        [ $have_gevent = 1 ] && run_server gevent "$server_cpu" "$python" \
            "$here/gevent_http.py" PORT ;;
    libgreen-2hubs)
        [ -x "$hello" ] && run_server libgreen-2hubs \
            "$server_cpu,$second_cpu" "$hello" --address 127.0.0.1:PORT \
            --threads 2 ;;
    libgreen-*hub*-shared)
        # One wrk thread would be the bottleneck here, so two for both.
        wrk_cpus=$all_cpus
        wrk_threads=2
        [ -x "$hello" ] && run_server "$1" "$all_cpus" "$hello" \
            --address 127.0.0.1:PORT \
            --threads "$(echo "$1" | sed 's/^libgreen-\([0-9]\)hubs*-.*/\1/')"
        wrk_cpus=$wrk_cpu
        wrk_threads=1 ;;
    esac
}

servers="libgreen-1hub libgreen-io_uring epoll-c go-nethttp gevent"
if [ "$cpu_count" -ge 3 ]; then
    servers="$servers libgreen-2hubs"
else
    servers="$servers libgreen-1hub-shared libgreen-2hubs-shared"
fi
load_servers="libgreen-1hub libgreen-io_uring epoll-c go-nethttp"
for benchmark in $benchmarks; do
    names=$servers
    [ $benchmark = http-load ] && names=$load_servers
    run_rounds "$rounds" "${HTTP_BENCH_SERVERS:-$names}" run_named
done

# Each figure is its median over the rounds, each ratio the median of the
# rounds' own ratios (bench/lib/rounds.awk says why), as run.sh defines
# them: time(a) / time(b), below 1: a is faster; time per request is
# 1 / (req/s), CPU time per request the cpu row.  Issue #15's goal:
# libgreen-io_uring/epoll-c cpu at most 0.85.
pairs="libgreen-1hub/epoll-c libgreen-1hub/go-nethttp libgreen-1hub/gevent
libgreen-io_uring/epoll-c libgreen-io_uring/go-nethttp
libgreen-io_uring/libgreen-1hub libgreen-2hubs/libgreen-1hub
libgreen-2hubs-shared/libgreen-1hub-shared"
awk -v pairs="$pairs" "$(cat "$here/lib/rounds.awk")"'
    {
        key = $1 "\t" $2
        if (!(key in seen)) order[n++] = key
        if (!($1 in benchmarks)) benchmark[nb++] = $1
        seen[key] = benchmarks[$1] = 1
        if ($6 > rounds) rounds = $6
        rate[key, $6] = $3; time[key, $6] = 1 / $3
        p99[key, $6] = $4; cpu[key, $6] = $5; util[key, $6] = $3 * $5 / 1e6
    }
    # The two ratio rows of a and b, for a pair both ran.
    function ratio_rows(bench, a, b,    ka, kb) {
        ka = bench "\t" a; kb = bench "\t" b
        if (!(ka in seen) || !(kb in seen)) return
        printf "%s\t%s/%s\tcpu\t%.3f\tratio\n", bench, a, b, ratio(cpu, ka, kb)
        printf "%s\t%s/%s\twall\t%.3f\tratio\n", bench, a, b, ratio(time, ka, kb)
    }
    END {
        for (i = 0; i < n; i++) {
            key = order[i]
            printf "%s\trequests\t%.0f\treq/s\n", key, over_rounds(rate, key)
            printf "%s\tp99\t%.3f\tms\n", key, over_rounds(p99, key)
            printf "%s\tcpu\t%.2f\tus/req\n", key, over_rounds(cpu, key)
            printf "%s\tutil\t%.2f\tcpu\n", key, over_rounds(util, key)
        }
        m = split(pairs, pair, /[ \n]+/)
        for (j = 0; j < nb; j++)
            for (i = 1; i <= m; i++) {
                split(pair[i], ab, "/")
                ratio_rows(benchmark[j], ab[1], ab[2])
            }
    }' "$results"
exit $failed
