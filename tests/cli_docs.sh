#!/usr/bin/env bash
# The man pages and the bash completion that cnnrun generates from its own
# tables (cmd/man.c, cmd/complete.c): every page renders without a warning
# (when groff or man is installed), each command's page lists every option
# its help lists, the model page every layer type and key the loader knows,
# and the completion script, run in bash with COMP_WORDS and COMP_CWORD set,
# offers commands, a command's options, layer names read from the model file
# and files by extension; `cmake --install` puts pages and script where man
# and bash-completion look.
# Usage: cli_docs.sh PATH/TO/cnnrun SOURCE_DIR
set -u
cnnrun=${1:?usage: cli_docs.sh CNNRUN SOURCE_DIR}
case $cnnrun in /*) ;; *) cnnrun=$PWD/$cnnrun ;; esac
source_dir=${2:?usage: cli_docs.sh CNNRUN SOURCE_DIR}
models=$source_dir/models
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"

# The commands, as `cnnrun --help` lists them (help has no page of its own).
run --help
mapfile -t commands < <(sed -n '/^commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' "$scratch/out" | grep -vx help)
# (at least the ten this test was written with; a new command needs nothing here)
if [ "${#commands[@]}" -ge 10 ]; then pass; else fail "--help lists ${#commands[@]} commands: ${commands[*]}"; fi

# ---- man pages --------------------------------------------------------------------------

man_dir=$scratch/man
mkdir -p "$man_dir"
expect_exit 0 __man "$man_dir"
expect_empty err "__man"
pages=("$man_dir/cnnrun.1" "$man_dir/cnnrun-model.5")
for command in "${commands[@]}"; do pages+=("$man_dir/cnnrun-$command.1"); done
for page in "${pages[@]}"; do
    if [ -s "$page" ]; then pass; else fail "no page $page"; fi
done
expect_equal "$(find "$man_dir" -type f | wc -l)" "${#pages[@]}" "no other pages"

# Rendering: groff's and man's warnings (-ww: all of them) must be empty.
if command -v groff >/dev/null; then
    for page in "${pages[@]}"; do
        groff -man -Tutf8 -ww -z "$page" 2>"$scratch/groff" >/dev/null
        if [ ! -s "$scratch/groff" ]; then pass; else fail "groff warns on $(basename "$page"): $(head -c 300 "$scratch/groff")"; fi
    done
else
    echo "skipped: groff is not installed (rendering without warnings not checked)"
fi
if command -v man >/dev/null; then
    for page in "${pages[@]}"; do
        MANWIDTH=80 man --warnings -l "$page" >"$scratch/rendered" 2>"$scratch/man-err"
        if [ -s "$scratch/rendered" ] && [ ! -s "$scratch/man-err" ]; then pass; else fail "man -l $(basename "$page"): $(head -c 300 "$scratch/man-err")"; fi
    done
else
    echo "skipped: man is not installed (man -l not checked)"
fi

# page_has PAGE TEXT WHAT: the roff source holds TEXT with its hyphens
# escaped (\-), as the generator writes options.
page_has() {
    local roff=${2//-/\\-}
    if grep -qF -- "$roff" "$1"; then pass; else fail "$3: $(basename "$1") lacks '$roff'"; fi
}

# Every option `cnnrun help COMMAND` lists is on the command's page, in its
# OPTIONS section, and the summary of --help is its NAME line.
for command in "${commands[@]}"; do
    page=$man_dir/cnnrun-$command.1
    run help "$command"
    mapfile -t options < <(sed -n '/^options:/,/^$/p' "$scratch/out" | grep -oE '^  (-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+')
    if [ "${#options[@]}" -gt 0 ]; then pass; else fail "help $command lists no options"; fi
    sed -n '/^\.SH OPTIONS/,/^\.SH EXIT/p' "$page" >"$scratch/options-section"
    for option in "${options[@]}"; do page_has "$scratch/options-section" "\\fB$option\\fR" "$command $option"; done
    summary=$("$cnnrun" --help | sed -n "s/^  $command  *//p")
    escaped=$(printf '%s' "$summary" | sed 's/-/\\-/g')
    if grep -qF -- "cnnrun\\-$command \\- $escaped" "$page"; then pass; else fail "$command page NAME is not '$summary'"; fi
    page_has "$man_dir/cnnrun.1" "cnnrun-$command" "cnnrun.1 lists $command"
done

# The model page: every layer type the loader knows, each with every key it
# accepts (both lists from the loader's own error messages).
printf 'input: [1, 8, 8]\nlayers:\n  - {type: qqqqqqqqqq}\n' >"$scratch/unknown-type.yaml"
run check "$scratch/unknown-type.yaml"
mapfile -t kinds < <(sed -n 's/.*(known types: \(.*\))$/\1/p' "$scratch/err" | tr -d ' ' | tr ',' '\n')
if [ "${#kinds[@]}" -gt 10 ]; then pass; else fail "known types from the loader: ${kinds[*]}"; fi
for kind in "${kinds[@]}"; do
    page_has "$man_dir/cnnrun-model.5" ".SS $kind" "model page section for $kind"
    printf 'input: [1, 8, 8]\nlayers:\n  - {type: %s, zzzzzzzz: 1}\n' "$kind" >"$scratch/unknown-key.yaml"
    run check "$scratch/unknown-key.yaml"
    keys=$(sed -n 's/.*(valid keys: type, name, inputs*, *\(.*\))$/\1/p' "$scratch/err" | tr -d ' ')
    # the section: from its .SS to the next one
    sed -n "/^\\.SS $kind\$/,/^\\.S[SH] /p" "$man_dir/cnnrun-model.5" >"$scratch/section"
    for key in ${keys//,/ }; do page_has "$scratch/section" "\\fB$key\\fR" "model page: $kind key $key"; done
done

# ---- installed where man and bash-completion look ------------------------------------

build_dir=$(dirname "$cnnrun")
if [ -f "$build_dir/cmake_install.cmake" ] && command -v cmake >/dev/null; then
    prefix=$scratch/prefix
    if cmake --install "$build_dir" --prefix "$prefix" >"$scratch/install.log" 2>&1; then pass; else fail "cmake --install: $(tail -5 "$scratch/install.log")"; fi
    for page in "${pages[@]}"; do
        name=$(basename "$page")
        installed=$prefix/share/man/man${name##*.}/$name
        if cmp -s "$page" "$installed"; then pass; else fail "installed $installed differs from or lacks the generated page"; fi
    done
    if [ -s "$prefix/share/bash-completion/completions/cnnrun" ]; then pass; else fail "no installed completion"; fi
    if command -v man >/dev/null; then
        # man finds the page by name under the prefix
        if MANWIDTH=80 man -M "$prefix/share/man" cnnrun-train 2>/dev/null | grep -q -- "--max-steps"; then pass; else fail "man -M PREFIX cnnrun-train"; fi
        if MANWIDTH=80 man -M "$prefix/share/man" 5 cnnrun-model 2>/dev/null | grep -q "LAYER TYPES"; then pass; else fail "man -M PREFIX 5 cnnrun-model"; fi
    fi
else
    echo "skipped: $build_dir is not a CMake build folder (installation not checked)"
fi

# ---- bash completion -------------------------------------------------------------------

completion=$scratch/cnnrun.bash
expect_exit 0 __bash-completion "$completion"
if bash -n "$completion" 2>"$scratch/syntax"; then pass; else fail "completion script syntax: $(cat "$scratch/syntax")"; fi

# complete WORD...: what the script offers for the last word, one per line,
# sorted, with COMP_WORDS as bash would give it (the binary as word 0, so
# __complete-layers runs this build).
complete_words() {
    bash -c '
        source "$1"
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        _cnnrun
        printf "%s\n" "${COMPREPLY[@]}" | sort' bash "$completion" "$cnnrun" "$@"
}

# offers WHAT EXPECTED... -- WORD...: every EXPECTED is offered.
offers() {
    local what=$1
    shift
    local expected=()
    while [ "$1" != -- ]; do
        expected+=("$1")
        shift
    done
    shift
    local got
    got=$(complete_words "$@")
    for word in "${expected[@]}"; do
        if grep -qxF -- "$word" <<<"$got"; then pass; else fail "completion $what: '$word' not offered for '$*': $(echo $got)"; fi
    done
}

# lacks WHAT WORD -- WORD...: WORD is not offered.
lacks() {
    local what=$1 word=$2
    shift 3
    if grep -qxF -- "$word" <<<"$(complete_words "$@")"; then fail "completion $what: '$word' offered for '$*'"; else pass; fi
}

offers "commands" check gradcheck train -- ""
offers "a command by prefix" train -- tr
lacks "hidden commands" __man -- __
offers "help topics" bench -- help be
offers "check's options" --batch --json --help -- check "$models/lenet5.yaml" --
offers "train's options" --epochs --max-steps --no-shuffle -- train m.yaml --
offers "an option by prefix" --resume -- train m.yaml --res
lacks "another command's option" --input -- train m.yaml --
offers "a choice" minmax clip -- apply m.yaml img.png --scale ""

# layer names from the model file on the command line
mapfile -t layers < <("$cnnrun" __complete-layers "$models/lenet5.yaml")
expect_equal "${layers[*]}" "c1 s2 c3 s4 flatten1 f5 f6 out softmax1" "__complete-layers lists lenet5's layers"
offers "--layer names" gradient edges -- apply "$models/sobel.yaml" img.png --layer ""
offers "--layer by prefix" c1 c3 -- filters "$models/lenet5.yaml" --layer c
lacks "--layer by prefix" s2 -- filters "$models/lenet5.yaml" --layer c
offers "--layers after a comma" c1,s2 c1,f5 -- features "$models/lenet5.yaml" img.png --layers c1,
offers "--layer=NAME (bash splits at =)" c1 s2 -- apply "$models/lenet5.yaml" img.png --layer = ""
offers "--layer=NAME in one word" --layer=c1 -- apply "$models/lenet5.yaml" img.png --layer=c
expect_exit 1 __complete-layers "$scratch/no-such.yaml"
expect_empty err "__complete-layers on a missing file says nothing"

# files by extension
mkdir -p "$scratch/files/runs"
touch "$scratch/files/a.yaml" "$scratch/files/b.txt" "$scratch/files/w.safetensors" "$scratch/files/p.png"
f=$scratch/files
offers "models" "$f/a.yaml" "$f/runs" -- check "$f/"
lacks "models" "$f/b.txt" -- check "$f/"
lacks "models" "$f/w.safetensors" -- check "$f/"
offers "--weights" "$f/w.safetensors" -- eval "$f/a.yaml" --weights "$f/"
lacks "--weights" "$f/a.yaml" -- eval "$f/a.yaml" --weights "$f/"
offers "--out DIR" "$f/runs" -- train "$f/a.yaml" --out "$f/"
lacks "--out DIR" "$f/a.yaml" -- train "$f/a.yaml" --out "$f/"
offers "the image after the model" "$f/p.png" -- apply "$f/a.yaml" "$f/"
lacks "the image after the model" "$f/a.yaml" -- apply "$f/a.yaml" "$f/"
offers "the model after an option and its value" "$f/a.yaml" -- apply -o x.png "$f/"
offers "the image after --layer = NAME (split at =)" "$f/p.png" -- apply "$f/a.yaml" --layer = c1 "$f/"
lacks "no value for a free-text option" "$f/a.yaml" -- train m.yaml --epochs "$f/"

report
