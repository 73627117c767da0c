#!/usr/bin/env bash
# fuzz/run.sh: fuzz the targets with libFuzzer for a while each (fuzz/README.md).
#
#   fuzz/run.sh [-t SECONDS] [TARGET...]     default: 60 s each, every target
#   fuzz/run.sh --merge [TARGET...]          fold build-fuzz/corpus/<t> into fuzz/corpus/<t>
#
# Installs clang and libFuzzer if missing (scripts/setup-deps.sh --fuzz), builds build-fuzz/
# (clang, -DDUALVM_FUZZ=ON: libFuzzer, ASan, UBSan), then runs each target on its seeds, the
# kept corpus and what earlier runs found (build-fuzz/corpus/<t>). A crash, leak, sanitizer
# report or hang is written to build-fuzz/artifacts/<t>-*; reproduce it with
# build/fuzz/<t> FILE (or build-fuzz/fuzz/<t> FILE), fix it, and copy FILE into
# fuzz/regress/<t>/ under a name that says what it was: CI replays it from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=60
merge=false
while [[ $# -gt 0 ]]; do
    case $1 in
    -t) secs=$2; shift 2 ;;
    --merge) merge=true; shift ;;
    *) break ;;
    esac
done
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_devices fuzz_dbt fuzz_loaders)

scripts/setup-deps.sh --fuzz
CC=clang cmake -S . -B build-fuzz -DDUALVM_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_seeds "${targets[@]}"
mkdir -p build-fuzz/artifacts

for t in "${targets[@]}"; do
    corpus=build-fuzz/corpus/$t
    mkdir -p "$corpus"
    case $t in
    fuzz_dbt) opts=(-max_len=2048) ;;
    fuzz_loaders) opts=(-max_len=300000) ;;
    *) opts=() ;;
    esac
    if $merge; then
        mkdir -p "fuzz/corpus/$t"
        "build-fuzz/fuzz/$t" -merge=1 "${opts[@]}" "fuzz/corpus/$t" "$corpus"
        continue
    fi
    dirs=("$corpus" "build-fuzz/fuzz/seeds/$t")
    for d in "fuzz/corpus/$t" "fuzz/regress/$t"; do
        [[ -d $d ]] && dirs+=("$d")
    done
    echo "fuzz/run.sh: $t for ${secs}s"
    status=0
    "build-fuzz/fuzz/$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=3000 \
        -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "${opts[@]}" \
        "${dirs[@]}" >"build-fuzz/$t.log" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done' \
        "build-fuzz/$t.log" || true
    if [[ $status -ne 0 ]]; then
        echo "fuzz/run.sh: $t found something (status $status): build-fuzz/$t.log," \
            "build-fuzz/artifacts/$t-*" >&2
        grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written' "build-fuzz/$t.log" | head -20 >&2
    fi
done
