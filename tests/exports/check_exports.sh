#!/bin/sh
# Checks what the shared libraries export against what the headers declare.
#
#   check_exports.sh CC NM INCLUDE_DIR PATCH_MAP LIBGREEN_SO LIBGREEN_PATCH_SO
#
# Fails when
#  - libgreen.so exports a name that no include/green/*.h declares;
#  - libgreen_patch.so exports a name that is neither declared there nor an
#    interposed libc function listed in PATCH_MAP (its version script);
#  - a name listed in PATCH_MAP as interposed is not a function of libc;
#  - a function declared in include/green/*.h is exported by neither library
#    (a declaration without GREEN_EXTERN, or one never defined).
# The declared functions come from the compiler (gcc's -aux-info), run on a
# file that includes every public header.  GREEN_EXPORTS_ABSENT lists
# headers (such as tls.h) whose optional part was not built: their
# declarations are then left out.
set -eu

if [ $# -ne 6 ]; then
    echo "usage: $0 CC NM INCLUDE_DIR PATCH_MAP LIBGREEN_SO LIBGREEN_PATCH_SO" >&2
    exit 2
fi
cc=$1 nm=$2 include_dir=$3 patch_map=$4 libgreen=$5 libpatch=$6

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Sorted defined dynamic symbols of a shared object, versions stripped.
exports() {
    "$nm" -D --defined-only "$1" | awk '{ sub(/@.*/, "", $3); print $3 }' |
        sort -u
}

for header in "$include_dir"/green/*.h; do
    echo "#include <green/${header##*/}>"
done >"$work/all.c"
"$cc" -I"$include_dir" -fsyntax-only -aux-info "$work/aux" "$work/all.c"
# Lines look like: /* <dir>/green/hub.h:49:NC */ extern int green_hub_run (void);
skip='^$'
for header in ${GREEN_EXPORTS_ABSENT:-}; do
    skip="$skip|/green/$header:"
done
grep '/green/[A-Za-z0-9_]*\.h:' "$work/aux" | grep -Ev "$skip" |
    sed -E 's|^/\*[^*]*\*/ *||; s|^([^(]*[^A-Za-z0-9_(])?([A-Za-z_][A-Za-z0-9_]*) \(.*|\2|' |
    sort -u >"$work/declared"

# The global: section of the version script, comments dropped.
sed 's|/\*.*\*/||g' "$patch_map" |
    awk '/global:/ { on = 1; next } /local:/ { on = 0 } on' |
    tr ';' '\n' | tr -d ' \t' | grep . | sort -u |
    comm -23 - "$work/declared" >"$work/interposed"

libc=$("$cc" -print-file-name=libc.so.6)
exports "$libc" | comm -23 "$work/interposed" - >"$work/not_libc"
exports "$libgreen" | comm -23 - "$work/declared" >"$work/green_extra"
exports "$libpatch" | comm -23 - "$work/declared" |
    comm -23 - "$work/interposed" >"$work/patch_extra"
{ exports "$libgreen" && exports "$libpatch"; } | sort -u |
    comm -13 - "$work/declared" >"$work/unexported"

status=0
report() { # file, message
    if [ -s "$1" ]; then
        echo "$2:"
        sed 's/^/    /' "$1"
        status=1
    fi
}
report "$work/green_extra" "$libgreen exports names no public header declares"
report "$work/patch_extra" \
    "$libpatch exports names neither declared nor interposed"
report "$work/not_libc" "$patch_map lists names that $libc does not define"
report "$work/unexported" \
    "declared in $include_dir/green but exported by neither library"
if [ $status -eq 0 ]; then
    echo "exports: $(exports "$libgreen" | wc -l) from libgreen," \
        "$(exports "$libpatch" | wc -l) from libgreen_patch" \
        "($(wc -l <"$work/interposed") interposed libc names); all declared"
fi
exit $status
