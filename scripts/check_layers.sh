#!/bin/sh
# Fails when an #include crosses the layer order of docs/layering.md:
# a file may include headers of its own layer and of layers below it,
# never above; src/patch/ reaches other folders through public headers
# only.  Usage: scripts/check_layers.sh [source root]
set -eu
root=${1:-$(dirname "$0")/..}
cd "$root"

# Layer of a folder under src/ or of a public header, by name.
layer_of() {
    case $1 in
    export | greenlet | greenlet.h | export.h) echo 1 ;;
    hub | hub.h | thread.h | timeout.h | hub_hooks.h) echo 2 ;;
    sync | sync.h | pool.h | select.h | group.h) echo 3 ;;
    io | io.h | file.h | net.h | dns.h | tpool.h | hub_threads.h | xqueue.h | \
        bufio.h | process.h | signal.h | tls.h) echo 4 ;;
    patch | patch.h) echo 5 ;;
    green.h) echo 9 ;;
    *) echo 0 ;;
    esac
}

status=0
fail() {
    echo "check_layers: $*" >&2
    status=1
}

# check FILE LAYER FOLDER: every green/ or folder-qualified include of FILE.
check() {
    file=$1 own=$2 folder=$3
    grep -o '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]*[>"]' "$file" |
        sed 's/.*\([<"]\)\([^>"]*\)[>"]/\1\2/' | while read -r inc; do
        case $inc in
        "<green/"*) inc=${inc#<} name=${inc#green/} kind=public ;;
        '"'*/*) inc=${inc#\"} name=${inc%%/*} kind=internal ;;
        *) continue ;;
        esac
        [ "$name" = arch ] && continue
        want=$(layer_of "$name")
        if [ "$want" = 0 ]; then
            echo "check_layers: $file includes $inc: not in the layer table" >&2
            echo fail
        elif [ "$want" -gt "$own" ]; then
            echo "check_layers: $file (layer $own) includes $inc (layer $want)" >&2
            echo fail
        elif [ "$kind" = internal ] && [ "$folder" = patch ]; then
            echo "check_layers: $file: the patch layer includes internal $inc" >&2
            echo fail
        fi
    done
}

for dir in src/*/; do
    folder=$(basename "$dir")
    own=$(layer_of "$folder")
    [ "$own" = 0 ] && fail "src/$folder: not in the layer table"
    for file in $(find "$dir" -name '*.[chS]'); do
        [ -n "$(check "$file" "$own" "$folder")" ] && status=1
    done
done
for file in include/green/*.h; do
    own=$(layer_of "$(basename "$file")")
    [ "$own" = 0 ] && fail "$file: not in the layer table"
    [ -n "$(check "$file" "$own" public)" ] && status=1
done
[ $status = 0 ] && echo "check_layers: every include follows the layer order"
exit $status
