#!/usr/bin/env bash
# run.sh: build dualvm and the benchmark workloads, then time them (benchmarks/bench.py).
#
#   benchmarks/run.sh                 # full: 5 alternating runs of everything, a few minutes
#                                     # (builds the Linux images first if they are missing)
#   benchmarks/run.sh --quick         # one small run of each (what ctest's bench.quick does;
#                                     # the Linux boot only if its images are built)
#   benchmarks/run.sh --workloads alu,fib --runs 3 --n alu=1000000
#   BUILD_DIR=/tmp/b benchmarks/run.sh   # another build directory (default: build/)
#
# Every other option goes to bench.py (benchmarks/run.sh --help lists them). Results go to
# <build>/benchmarks/results (or .../quick): results.md, results.csv, runs.csv, *.png.
# Needs python3 (standard library only); the PNG charts need gnuplot (Debian: gnuplot-nox).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$repo/build}

if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$repo" -B "$build"
fi
cmake --build "$build" -j"$(nproc)" --target dualvm bench_guests
exec python3 "$repo/benchmarks/bench.py" --build-dir "$build" "$@"
