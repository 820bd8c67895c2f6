#!/usr/bin/env bash
# check-shell.sh SRC_DIR - every shell script of the tree parses (bash -n).
# The demo once shipped with an unclosed quote that only `make demo`
# showed; this catches that in `make test`.
set -uo pipefail
cd "${1:?usage: check-shell.sh SRC_DIR}"
bad=0
while IFS= read -r f; do
    if ! out=$(bash -n "$f" 2>&1); then
        echo "$out"
        bad=1
    fi
done < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './build*')
if ((bad)); then
    exit 1
fi
echo "shell scripts: all parse"
