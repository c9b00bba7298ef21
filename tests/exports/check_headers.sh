#!/bin/sh
# Checks that the public headers suit any C99 or C11 program:
#
#   check_headers.sh CC INCLUDE_DIR LIBGREEN_SO
#
#  - each include/green/*.h compiles on its own, warning-free, under
#    -std=c99 and -std=c11 with -Wpedantic;
#  - a program built at -O0, where nothing is inlined, links against
#    LIBGREEN_SO: every inline function of the headers (greenlet_switch)
#    has its exported out-of-line definition there.
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 CC INCLUDE_DIR LIBGREEN_SO" >&2
    exit 2
fi
cc=$1 include_dir=$2 libgreen=$3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags="-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Werror"

cat >"$work/call_inline.c" <<'EOF'
#include <green/green.h>
int main(void)
{
    return greenlet_switch(greenlet_current(), NULL, NULL);
}
EOF

for std in c99 c11; do
    for header in "$include_dir"/green/*.h; do
        # The typedef: ISO C forbids an empty unit (export.h declares nothing).
        printf '#include <green/%s>\ntypedef int nonempty;\n' \
            "${header##*/}" >"$work/one.c"
        echo "-std=$std: ${header##*/}"
        "$cc" -std=$std $flags -I"$include_dir" -fsyntax-only "$work/one.c"
    done
    echo "-std=$std -O0: greenlet_switch links to $libgreen"
    "$cc" -std=$std $flags -O0 -I"$include_dir" -o "$work/call_inline" \
        "$work/call_inline.c" "$libgreen"
done
