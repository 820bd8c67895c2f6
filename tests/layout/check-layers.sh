#!/usr/bin/env bash
# check-layers.sh SRC_DIR - the include arrows of the tree, checked.
#
# Every quoted #include is resolved to the folder that holds the header, and
# each part of the tree may include only from the parts below it:
#   protocol/         protocol/
#   schema/           schema/
#   provider/cfapi/   provider/cfapi/, and of protocol/ only log.h (the one
#                     secret registry) and dynbuf.h (the one capped
#                     buffer); never sso/, the shell, or the JSON-RPC server
#   provider/sso/     provider/sso/, provider/cfapi/, schema/, protocol/
#   provider/ (shell) the above and itself
#   tfbridge/         tfbridge/, protocol/, schema/ (it reaches the provider
#                     only over a pipe)
#   sim/              sim/ (it simulates the API and shares no code with
#                     the client it tests)
# Prints every offending line and exits 1 when there is one.
set -euo pipefail
src=${1:?usage: check-layers.sh SRC_DIR}
cd "$src"

# The folder of each project header, by file name.
declare -A home
while IFS= read -r h; do
    name=${h##*/}
    if [[ -n ${home[$name]:-} ]]; then
        echo "header name used twice: ${home[$name]}/$name and $h" >&2
        exit 1
    fi
    home[$name]=${h%/*}
done < <(find protocol schema provider tfbridge sim -name '*.h' | sort)

allowed_for() {
    case $1 in
    protocol) echo "protocol" ;;
    schema) echo "schema" ;;
    provider/cfapi) echo "provider/cfapi protocol/log.h protocol/dynbuf.h" ;;
    provider/sso) echo "provider/sso provider/cfapi schema protocol" ;;
    provider) echo "provider provider/sso provider/cfapi schema protocol" ;;
    tfbridge) echo "tfbridge protocol schema" ;;
    sim) echo "sim" ;;
    *) echo "" ;;
    esac
}

bad=0
while IFS= read -r f; do
    dir=${f%/*}
    allowed=$(allowed_for "$dir")
    while IFS=: read -r line inc; do
        name=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$inc")
        name=${name##*/}
        h=${home[$name]:-}
        [[ -z $h ]] && continue # generated (e.g. *.pb-c.h) or a system header in quotes
        ok=0
        for a in $allowed; do
            if [[ $a == "$h" || $a == "$h/$name" ]]; then ok=1; fi
        done
        if ((!ok)); then
            echo "$f:$line: includes $h/$name, which $dir/ must not depend on"
            bad=1
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done < <(find protocol schema provider tfbridge sim -name '*.[ch]' | sort)

if ((bad)); then
    exit 1
fi
echo "include arrows: every file includes only from the layers below it"
