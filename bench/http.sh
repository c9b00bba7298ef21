#!/bin/sh
# HTTP "Hello, World!" with wrk on loopback, side by side in one run:
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
# The one-core servers are pinned to one CPU and wrk to another (taskset).
# With fewer than three CPUs, two hubs cannot get two CPUs of their own:
# then libgreen-1hub-shared and libgreen-2hubs-shared compare one and two
# hubs with the server and wrk (2 threads for both) free to use every CPU.
# Rows: requests (req/s), p99 (ms), cpu (server user+system CPU time from
# /proc/PID/stat per completed request, us/req), each the median of
# HTTP_BENCH_ROUNDS rounds (default 5) that run every server in turn (every
# other round in reverse order); then ratio rows, each the median of the
# rounds' own ratios.
#
#   sh bench/http.sh BUILD_DIR
#
# Environment: HTTP_BENCH_DURATION (s, default 5), HTTP_BENCH_ROUNDS,
# HTTP_BENCH_CONNECTIONS
# (default 100), HTTP_BENCH_SERVERS (the names to run, default all),
# HTTP_BENCH_SERVER_CPU (default 0), HTTP_BENCH_WRK_CPU
# (default 1).  Implementations whose program is missing are skipped with a
# note on stderr.
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

if ! command -v wrk >/dev/null 2>&1; then
    echo "http.sh: wrk is not installed; no HTTP figures" >&2
    exit 0
fi

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
    output=$(taskset -c "$wrk_cpus" wrk -t"$wrk_threads" -c"$connections" \
        -d"${duration}s" --latency "http://127.0.0.1:$port/" 2>&1)
    after=$(cpu_ticks "$pid")
    stop_server "$pid"

    requests=$(echo "$output" | awk '/requests in/ { print $1 }')
    rate=$(echo "$output" | awk '/^Requests\/sec:/ { print $2 }')
    p99=$(echo "$output" | awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
        print v }')
    bad=$(echo "$output" | awk '/Non-2xx/ { print $NF }')
    if [ -z "$requests" ] || [ -z "$rate" ] || [ "$requests" -eq 0 ] ||
        [ -n "$bad" ]; then
        echo "http.sh: $name: unusable wrk output:" >&2
        echo "$output" >&2
        failed=1
        return
    fi
    echo "$output" | grep -i "socket errors" >&2
    cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" \
        -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    printf '%s %s %s %s %s\n' "$name" "$rate" "$p99" "$cpu" \
        "$run_rounds_round" >>"$results"
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
servers=${HTTP_BENCH_SERVERS:-$servers}
run_rounds "$rounds" "$servers" run_named

# Each figure is its median over the rounds, each ratio the median of the
# rounds' own ratios (bench/lib/rounds.awk says why), as run.sh defines
# them: time(a) / time(b), below 1: a is faster; time per request is
# 1 / (req/s), CPU time per request the cpu row.  Issue #15's goal:
# libgreen-io_uring/epoll-c cpu at most 0.85.
pairs="libgreen-1hub/epoll-c libgreen-1hub/go-nethttp libgreen-1hub/gevent
libgreen-io_uring/epoll-c libgreen-io_uring/libgreen-1hub
libgreen-2hubs/libgreen-1hub libgreen-2hubs-shared/libgreen-1hub-shared"
awk -v pairs="$pairs" "$(cat "$here/lib/rounds.awk")"'
    {
        if (!($1 in seen)) order[n++] = $1
        seen[$1] = 1
        if ($5 > rounds) rounds = $5
        rate[$1, $5] = $2; time[$1, $5] = 1 / $2
        p99[$1, $5] = $3; cpu[$1, $5] = $4
    }
    # The two ratio rows of a and b, for a pair both ran.
    function ratio_rows(a, b,    name) {
        if (!(a in seen) || !(b in seen)) return
        name = a "/" b
        printf "http\t%s\tcpu\t%.3f\tratio\n", name, ratio(cpu, a, b)
        printf "http\t%s\twall\t%.3f\tratio\n", name, ratio(time, a, b)
    }
    END {
        for (i = 0; i < n; i++) {
            name = order[i]
            printf "http\t%s\trequests\t%.0f\treq/s\n", name, over_rounds(rate, name)
            printf "http\t%s\tp99\t%.3f\tms\n", name, over_rounds(p99, name)
            printf "http\t%s\tcpu\t%.2f\tus/req\n", name, over_rounds(cpu, name)
        }
        m = split(pairs, pair, /[ \n]+/)
        for (i = 1; i <= m; i++) {
            split(pair[i], ab, "/")
            ratio_rows(ab[1], ab[2])
        }
    }' "$results"
exit $failed
