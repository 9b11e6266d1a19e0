#!/bin/sh
# Prepares the King James Bible corpus of workload W3 and quality target Q2
# (docs/performance.md): Debian's bible-kjv, `bible -f 'Gen1:1-Rev22:21'`, with the
# verse references ("Ge1:1 ", "1Co13:4 ") removed, one verse per line, each
# line ending in a newline - byte for byte the text of the PyTorch peer
# (the same model in PyTorch, the developers' torch_charlstm_kjv.py, which
# strips each line with re.sub(r"^\S+\d+:\d+ ", "", line)).
#
#   tools/prepare-kjv.sh            writes data/kjv.txt of this source tree
#   tools/prepare-kjv.sh OUT        writes OUT
#
# Installs bible-kjv with tools/install-deps.sh when `bible` is missing (that
# needs root or sudo). The file is written atomically (temp file + rename).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../data/kjv.txt}

if ! command -v bible >/dev/null 2>&1; then
    echo "prepare-kjv: \`bible\` not found; installing Debian's bible-kjv with tools/install-deps.sh" >&2
    sh "$here/install-deps.sh"
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# The references are ASCII; LC_ALL=C makes the match byte-wise like the peer's.
bible -f 'Gen1:1-Rev22:21' | LC_ALL=C sed -E 's/^[^[:space:]]+[0-9]+:[0-9]+ //' >"$tmp"
lines=$(wc -l <"$tmp")
if [ "$lines" -lt 31000 ]; then
    echo "prepare-kjv: only $lines verses came out of \`bible\` (expected 31102)" >&2
    exit 1
fi
mv "$tmp" "$out"
trap - EXIT
echo "prepare-kjv: wrote $out ($lines verses, $(wc -c <"$out") bytes)"
