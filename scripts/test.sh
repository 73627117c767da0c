#!/usr/bin/env bash
# test.sh: install dependencies, build into build/ and run every test (unit tests, the test
# guests under dualvm, and under QEMU where it is installed). Exits with ctest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
cmake -S . -B build -DDUALVM_WERROR=ON
cmake --build build -j"$(nproc)"
status=0
ctest --test-dir build --output-on-failure -j2 || status=$?
exit $status
