#!/usr/bin/env bash
# test.sh: install dependencies, build into build/ and run every test (unit tests, the test
# guests under dualvm, and under QEMU where it is installed, the fuzz corpus replays), then the
# same unit, guest, sandbox and replay tests again in build-asan/ under ASan+UBSan, which must
# report nothing. Exits non-zero if any test failed or any sanitizer spoke.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
cmake -S . -B build -DDUALVM_WERROR=ON
cmake --build build -j"$(nproc)"
status=0
ctest --test-dir build --output-on-failure -j2 || status=$?

# The sanitizer build, a directory of its own: AddressSanitizer + UndefinedBehaviorSanitizer
# (and LeakSanitizer at exit) on the unit, guest, command-line, sandbox and fuzz-corpus-replay
# tests; the external suites, benchmarks, QEMU reference runs, KVM, Linux, firmware boot and
# window tests stay with the plain build (time). A sanitizer that finds something exits 97
# (UBSan does not recover), which fails the test; ASan and LSan also write their reports to
# build-asan/sanitizer/, and any file there fails the run, even from a test that passed.
cmake -S . -B build-asan -DDUALVM_WERROR=ON -DDUALVM_SANITIZE=ON
cmake --build build-asan -j"$(nproc)"
san=$PWD/build-asan/sanitizer
rm -rf "$san"
mkdir -p "$san"
ASAN_OPTIONS="exitcode=97:detect_leaks=1:log_path=$san/asan" \
    UBSAN_OPTIONS="exitcode=97:print_stacktrace=1:log_path=$san/ubsan" \
    LSAN_OPTIONS="exitcode=97" \
    ctest --test-dir build-asan --output-on-failure -j2 -R '^(unit|guest|cli|sandbox|fuzz)\.' \
    -LE '(qemu|external|bench|kvm|linux|ui)' || status=1
if compgen -G "$san/*" >/dev/null; then
    echo "test.sh: sanitizer reports (build-asan):" >&2
    cat "$san"/* >&2
    status=1
fi
exit $status
