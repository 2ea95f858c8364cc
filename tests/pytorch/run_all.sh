#!/bin/sh
# Every PyTorch comparison quoted in docs/weights.md, by hand (needs Debian's
# python3-torch at /usr/bin/python3; the test suite never runs this).
#   tests/pytorch/run_all.sh [BUILD_DIR] [extra compare.py options, e.g. --seed 2]
set -e
cd "$(dirname "$0")/../.."
build=${1:-build}
[ $# -gt 0 ] && shift
cmake --build "$build" --target cnnrun cnnrun_dump >/dev/null
status=0
# magnitude (cnnrun's own layer, for pictures) has no PyTorch equivalent.
gradcheck_models=$(ls tests/gradcheck/*.yaml | grep -v magnitude)
# shellcheck disable=SC2086
/usr/bin/python3 tests/pytorch/compare.py --build "$build" "$@" \
    models/lenet5.yaml models/residual.yaml tests/pytorch/alexnet_lrn.yaml \
    $gradcheck_models || status=1
# Dropout draws differ between the two libraries: rate 0 in a temporary copy.
/usr/bin/python3 tests/pytorch/compare.py --build "$build" --zero-dropout "$@" \
    models/vgg_small.yaml models/vgg_small_fashion.yaml || status=1
exit $status
