# Shell functions for the benchmark scripts that start servers and measure
# them with a client (bench/http.sh, bench/tls.sh); sourced, not run (it is
# not in bench/, so bench/run.sh does not take it for a benchmark).

# utime + stime of a process, all threads, in clock ticks.  The command
# name in field 2 may hold spaces, so count fields after its ')'.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# with_port PORT ARGS...: ARGS with "PORT" replaced, one a line.
with_port() {
    with_port_number=$1
    shift
    for arg in "$@"; do echo "$arg" | sed "s/PORT/$with_port_number/"; done
}

# Kill a server and reap it.
stop_server() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# run_rounds ROUNDS "NAMES" FUNCTION: call FUNCTION NAME for each name, in
# ROUNDS rounds; every other round in reverse order, so that none is always
# first or last after a pause.
run_rounds() {
    run_rounds_reversed=$(echo "$2" | tr ' ' '\n' | sed -n '1!G;h;$p' |
        tr '\n' ' ')
    run_rounds_round=0
    while [ $run_rounds_round -lt "$1" ]; do
        run_rounds_round=$((run_rounds_round + 1))
        run_rounds_order=$2
        [ $((run_rounds_round % 2)) = 0 ] &&
            run_rounds_order=$run_rounds_reversed
        for run_rounds_name in $run_rounds_order; do
            "$3" "$run_rounds_name"
        done
    done
}
