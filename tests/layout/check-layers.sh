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

# One pass over every source file: each quoted include, resolved through
# the header table, against the allowed folders of the file's own folder.
table=$(for name in "${!home[@]}"; do printf '%s %s\n' "$name" "${home[$name]}"; done)
rules=$(for d in protocol schema provider/cfapi provider/sso provider tfbridge sim; do
    printf '%s %s\n' "$d" "$(allowed_for "$d")"
done)
bad=0
find protocol schema provider tfbridge sim -name '*.[ch]' | sort | xargs awk -v table="$table" -v rules="$rules" '
BEGIN {
    n = split(table, rows, "\n")
    for (i = 1; i <= n; i++) if (split(rows[i], kv, " ") == 2) home[kv[1]] = kv[2]
    n = split(rules, rows, "\n")
    for (i = 1; i <= n; i++) {
        k = split(rows[i], parts, " ")
        for (j = 2; j <= k; j++) allowed[parts[1], parts[j]] = 1
    }
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
    name = $0
    sub(/^[^"]*"/, "", name); sub(/".*$/, "", name); sub(/^.*\//, "", name)
    if (!(name in home)) next
    dir = FILENAME; sub(/\/[^\/]*$/, "", dir)
    h = home[name]
    if ((dir, h) in allowed || (dir, h "/" name) in allowed) next
    printf "%s:%d: includes %s/%s, which %s/ must not depend on\n", FILENAME, FNR, h, name, dir
    bad = 1
}
END { exit bad }' || bad=1

if ((bad)); then
    exit 1
fi
echo "include arrows: every file includes only from the layers below it"
