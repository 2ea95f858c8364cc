#!/usr/bin/env bash
# The library as a user gets it: `cmake --install` of this build into a
# temporary prefix, then the examples (examples/classify.c and .cpp) built
# against that prefix alone, with pkg-config and with find_package(cnnrun),
# shared and static, and run on the installed LeNet-5 model.
# Checks: the installed layout (one public header, versioned SONAME, only the
# header's functions exported, man pages and completion), the header compiling alone as C99 and C++11,
# the installed binary running, and every example printing one probability
# per class that sum to 1, all six builds printing the same numbers.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZER_FLAGS]
# SANITIZER_FLAGS: the ASan build's -fsanitize flags, which the examples
# need to link its instrumented library.
# Exit 77 (ctest: skipped) without a C++ compiler or pkg-config.
set -u
build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZER_FLAGS]}
source_dir=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZER_FLAGS]}
cc=${3:?usage: install_test.sh BUILD_DIR SOURCE_DIR C_COMPILER [SANITIZER_FLAGS]}
read -r -a sanitize <<<"${4:-}"
cxx=${CXX:-c++}
for tool in "$cxx" pkg-config; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipped: $tool is not installed (.ci/install-deps installs g++ and pkg-config)"
        exit 77
    fi
done
# shellcheck source=cli-helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli-helpers.bash"
examples=$source_dir/examples
prefix=$scratch/prefix
cnnrun=$prefix/bin/cnnrun

# ---- install ---------------------------------------------------------------------------

if ! cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" 2>&1; then
    fail "cmake --install $build --prefix $prefix: $(tail -5 "$scratch/install.log")"
    report
    exit 1
fi
pc=$(find "$prefix" -name cnnrun.pc)
export PKG_CONFIG_PATH=${pc%/*}
libdir=$(realpath "$(pkg-config --variable=libdir cnnrun)")
models=$(realpath "$(pkg-config --variable=modelsdir cnnrun)")
version=$(pkg-config --modversion cnnrun)
expect_equal "$(cd "$libdir" && realpath --relative-to=. libcnnrun.so)" "libcnnrun.so.$version" \
    "libcnnrun.so links to the versioned file"
soname=$(readelf -d "$libdir/libcnnrun.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
expect_equal "$soname" "libcnnrun.so.${version%%.*}" "SONAME"
expect_equal "$(readlink "$libdir/$soname")" "libcnnrun.so.$version" "$soname links to the library"
for file in bin/cnnrun "${libdir#"$prefix"/}/libcnnrun.a" include/cnnrun/cnnrun.h \
    "${libdir#"$prefix"/}/cmake/cnnrun/cnnrun-config.cmake" \
    "${libdir#"$prefix"/}/cmake/cnnrun/cnnrun-config-version.cmake" \
    share/doc/cnnrun/README.md share/doc/cnnrun/docs/training.md; do
    if [ -f "$prefix/$file" ]; then pass; else fail "$file is not installed"; fi
done
for model in "$source_dir"/models/*.yaml; do
    if cmp -s "$model" "$models/${model##*/}"; then pass; else fail "$models/${model##*/} is not installed"; fi
done
# Man pages and completion (cmd/cli_docs.cmake's rules): every page the
# build generated.
pages=0
for page in "$build"/man/*.[15]; do
    [ -e "$page" ] || continue
    pages=$((pages + 1))
    section=${page##*.}
    if cmp -s "$page" "$prefix/share/man/man$section/${page##*/}"; then pass; else
        fail "man page ${page##*/} is not installed in share/man/man$section"
    fi
done
if [ "$pages" -gt 0 ]; then pass; else fail "the build generated no man pages in $build/man"; fi
if [ -s "$prefix/share/bash-completion/completions/cnnrun" ]; then pass; else
    fail "share/bash-completion/completions/cnnrun is not installed"
fi
# Private headers stay private.
expect_equal "$(cd "$prefix/include" && find . -type f)" "./cnnrun/cnnrun.h" "installed headers"
# What the shared library exports is exactly what the header declares.
grep -o '^CR_API [^(]*(' "$prefix/include/cnnrun/cnnrun.h" | sed 's/.*[ *]\([a-z_0-9]*\)($/\1/' |
    sort >"$scratch/declared"
nm -D --defined-only "$libdir/libcnnrun.so" | awk '$2 == "T" {print $3}' | sort >"$scratch/exported"
if [ -s "$scratch/declared" ] && cmp -s "$scratch/declared" "$scratch/exported"; then pass; else
    fail "exported symbols differ from cnnrun.h's CR_API functions: $(diff "$scratch/declared" "$scratch/exported" | head -10)"
fi
# The installed command runs from the prefix (the library is linked in).
expect_exit 0 check "$models/lenet5.yaml"
expect_exit 0 check --json "$models/lenet5.yaml"
classes=$(python3 -c '
import json, math, sys
print(math.prod(json.load(open(sys.argv[1]))["layers"][-1]["output"]))' "$scratch/out")

# ---- the header alone ------------------------------------------------------------------

read -r -a cflags <<<"$(pkg-config --cflags cnnrun)"
echo '#include <cnnrun.h>' >"$scratch/header.c"
cp "$scratch/header.c" "$scratch/header.cpp"
if "$cc" -std=c99 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only "${cflags[@]}" \
    "$scratch/header.c" 2>"$scratch/err"; then pass; else fail "cnnrun.h alone as C99: $(head -5 "$scratch/err")"; fi
if "$cxx" -std=c++11 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only "${cflags[@]}" \
    "$scratch/header.cpp" 2>"$scratch/err"; then pass; else fail "cnnrun.h alone as C++11: $(head -5 "$scratch/err")"; fi

# ---- the examples ----------------------------------------------------------------------

# expect_classify NAME BINARY LINKAGE: BINARY was built and links libcnnrun
# as LINKAGE says (shared: the prefix's libcnnrun.so.N; static: none), and
# prints `model lenet5: ... N outputs`, then N `class K: P` lines with every
# P in [0, 1], summing to 1, the same as the first example's.
expect_classify() {
    local name=$1 binary=$2 linkage=$3
    if [ ! -x "$binary" ]; then
        fail "$name: not built: $(tail -5 "$scratch/build.log")"
        return
    fi
    local resolved
    resolved=$(ldd "$binary" | awk '$1 ~ /^libcnnrun/ {print $3}' | xargs -r realpath -s)
    if [ "$linkage" = shared ]; then
        expect_equal "$resolved" "$libdir/$soname" "$name: libcnnrun found at run time"
    else
        expect_equal "$resolved" "" "$name: needs no libcnnrun.so"
    fi
    "$binary" "$models/lenet5.yaml" >"$scratch/$name.out" 2>"$scratch/err"
    expect_equal "$?" 0 "$name: exit status ($(head -c 300 "$scratch/err"))"
    expect_equal "$(head -1 "$scratch/$name.out")" "model lenet5: input 1x28x28, $classes outputs" \
        "$name: first line"
    local summary
    summary=$(awk '/^class / {n++; s += $3; if ($3 < 0 || $3 > 1) bad++}
                  END {printf "%d %s", n, (bad == 0 && s > 0.99999 && s < 1.00001) ? "ok" : "bad sum " s}' \
        "$scratch/$name.out")
    expect_equal "$summary" "$classes ok" "$name: probabilities per class"
    if [ -z "${first_output:-}" ]; then
        first_output=$scratch/$name.out
    elif cmp -s "$first_output" "$scratch/$name.out"; then pass; else
        fail "$name: output differs from ${first_output##*/}: $(diff "$first_output" "$scratch/$name.out" | head -6)"
    fi
}

rpath="-Wl,-rpath,$libdir"
read -r -a libs <<<"$(pkg-config --libs cnnrun)"
read -r -a static_libs <<<"$(pkg-config --static --libs cnnrun)"
"$cc" "${sanitize[@]}" -Wall -Wextra -Werror "$examples/classify.c" "${cflags[@]}" "${libs[@]}" \
    "$rpath" -o "$scratch/pc-c" >"$scratch/build.log" 2>&1
expect_classify pkg-config-c "$scratch/pc-c" shared
"$cxx" "${sanitize[@]}" -Wall -Wextra -Werror "$examples/classify.cpp" "${cflags[@]}" "${libs[@]}" \
    "$rpath" -o "$scratch/pc-cxx" >"$scratch/build.log" 2>&1
expect_classify pkg-config-c++ "$scratch/pc-cxx" shared
# Static: a folder holding only libcnnrun.a, searched first, so that
# -lcnnrun cannot pick the shared library; Libs.private and
# Requires.private must then bring every dependency.
mkdir "$scratch/static"
ln -s "$libdir/libcnnrun.a" "$scratch/static/"
"$cc" "${sanitize[@]}" -Wall -Wextra -Werror "$examples/classify.c" "${cflags[@]}" \
    -L"$scratch/static" "${static_libs[@]}" -o "$scratch/pc-static" >"$scratch/build.log" 2>&1
expect_classify pkg-config-static "$scratch/pc-static" static

# cmake_examples DIR ARGS...: configures and builds examples/ in DIR.
cmake_examples() {
    local dir=$1
    shift
    cmake -S "$examples" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_FLAGS="${sanitize[*]}" \
        -DCMAKE_CXX_FLAGS="${sanitize[*]}" "$@" >"$scratch/build.log" 2>&1 &&
        cmake --build "$dir" >>"$scratch/build.log" 2>&1
}
cmake_examples "$scratch/cmake-shared"
expect_classify find_package-c "$scratch/cmake-shared/classify" shared
expect_classify find_package-c++ "$scratch/cmake-shared/classify_cpp" shared
cmake_examples "$scratch/cmake-static" -DCLASSIFY_STATIC=ON
expect_classify find_package-static-c++ "$scratch/cmake-static/classify_cpp" static

# cr_predict_image (examples/predict_image.c): a 30×40 RGB image in, one
# probability per class out, summing to 1, built both ways.
"$cc" "${sanitize[@]}" -Wall -Wextra -Werror "$examples/predict_image.c" "${cflags[@]}" \
    "${libs[@]}" "$rpath" -o "$scratch/pc-predict" >"$scratch/build.log" 2>&1
for binary in "$scratch/pc-predict" "$scratch/cmake-shared/predict_image"; do
    "$binary" "$models/lenet5.yaml" >"$scratch/predict.out" 2>"$scratch/err"
    expect_equal "$?" 0 "${binary##*/}: exit status ($(head -c 300 "$scratch/err"))"
    expect_equal "$(head -1 "$scratch/predict.out")" "model lenet5: 30x40 RGB image, $classes outputs" \
        "${binary##*/}: first line"
    summary=$(awk '/^class / {n++; s += $3; if ($3 < 0 || $3 > 1) bad++}
                   END {printf "%d %s", n, (bad == 0 && s > 0.99999 && s < 1.00001) ? "ok" : "bad sum " s}' \
        "$scratch/predict.out")
    expect_equal "$summary" "$classes ok" "${binary##*/}: probabilities per class"
done

report
