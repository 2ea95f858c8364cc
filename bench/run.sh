#!/bin/sh
# cnnrun against PyTorch on this machine, in one run: builds cnnrun (Release,
# in build-bench/) if needed, runs every comparison (bench/run.py), writes
# bench/results/DATE-HOST.json and .md, and with --update-results rewrites the
# generated tables in bench/RESULTS.md.
#
#   bench/run.sh                  the full run (3 repetitions; 21 min on 2 idle cores)
#   bench/run.sh --quick          1 repetition, fewer steps (~4 min): to try the scripts
#   bench/run.sh --update-results ...and put the tables into bench/RESULTS.md
#   bench/run.sh --cnnrun PATH    an already built cnnrun (no build)
# Any other option goes to bench/run.py (--reps R, --steps K, --threads N,
# --modes asis haswell unset, --sweep-modes ..., --only GROUP..., --out FILE);
# see /usr/bin/python3 bench/run.py --help.
#
# Needs Debian's python3-torch: /usr/bin/python3, not a pyenv python3.
set -eu
cd "$(dirname "$0")/.."
update=no
cnnrun=
quick=no
command_line="bench/run.sh $*"
for arg in "$@"; do
    case $arg in
    --update-results) update=yes ;;
    --quick) quick=yes ;;
    esac
done
set -- "$@" --end-of-options
while [ "$1" != --end-of-options ]; do
    case $1 in
    --update-results | --quick) shift ;;
    --cnnrun) cnnrun=$2; shift 2 ;;
    *) set -- "$@" "$1"; shift ;;
    esac
done
shift

if [ -z "$cnnrun" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench --target cnnrun -j2 >/dev/null
    cnnrun=build-bench/cnnrun
fi
if ! "$cnnrun" bench --help >/dev/null 2>&1; then
    echo "$cnnrun has no 'bench' command yet (git merge main?)" >&2
    exit 1
fi
/usr/bin/python3 -c 'import torch' || {
    echo "needs python3-torch (/usr/bin/python3 -c 'import torch' fails)" >&2
    exit 1
}

if [ $quick = yes ]; then
    set -- --reps 1 --steps 5 --sweep-images 256 "$@"
fi
out=$(/usr/bin/python3 bench/run.py --cnnrun "$cnnrun" --command-line "$command_line" "$@")
/usr/bin/python3 bench/summarize.py "$out" >"${out%.json}.md"
echo "results: $out"
echo "tables:  ${out%.json}.md"
if [ $update = yes ]; then
    /usr/bin/python3 bench/summarize.py --update bench/RESULTS.md "$out"
    echo "updated bench/RESULTS.md"
fi
