#!/usr/bin/env python3
"""bench.py: time the benchmark workloads under every engine present and compare them.

Runs each workload (benchmarks/guests, multiboot ELFs, and a Linux boot) under each system
found here:

    dualvm-dbt   dualvm -accel dbt                  (always)
    dualvm-kvm   dualvm -accel kvm                  (only on a real /dev/kvm, see below)
    qemu-tcg     qemu-system-i386 -accel tcg        (the reference)
    qemu-kvm     qemu-system-i386 -accel kvm        (only on a real /dev/kvm)

with the same file, command line and -m. Every run is a whole process, timed from start to exit
(the Linux boot: to its marker line; startup included, nothing subtracted); each workload but
the Linux boot also runs with n=0 as its startup baseline (boot + setup, no work), so the work
alone can be estimated as the difference of the medians. Runs alternate between systems (the order rotates every round) so that machine drift
hits all of them alike. Checksums must agree across systems and runs: a mismatch is a failure.

KVM is used only where /dev/kvm opens and the host is not itself a virtual machine (the
"hypervisor" CPU flag): nested virtualization would time the outer hypervisor, not KVM. Give
--allow-nested-kvm to run it there anyway.

Outputs in --out (default <build>/benchmarks/results, or .../quick with --quick):
results.md (the table), results.csv (one row per workload and system), runs.csv (every run),
times.png and speedup.png (gnuplot, when installed), logs/ (output of every run that did not
pass). Exit status: 0 when nothing failed (unsupported is not a failure), 1 when something
failed, 2 on a usage error.

Only the Python 3 standard library is used; the charts need gnuplot (Debian: gnuplot-nox).
"""

import argparse
import csv
import datetime
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import select
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# ----------------------------------------------------------------------------- the workloads

@dataclass(frozen=True)
class Workload:
    name: str
    unit: str       # what n counts
    full_n: int     # full mode: a few seconds under the slowest system
    quick_n: int    # --quick (ctest bench.quick): well under a second each
    boot: bool = False  # the Linux boot: timed to its marker line, no n=0 baseline


WORKLOADS = [
    Workload("alu", "loop iterations of 18 register ALU instructions", 50_000_000, 1_000_000),
    Workload("mem_rep", "passes: 1 MiB REP STOSD + 1 MiB REP MOVSD + 4 KiB REP MOVSB", 100, 5),
    Workload("mem_loop", "passes: the same as mem_rep with plain load/store loops", 100, 5),
    Workload("ptrchase", "pointer-chasing steps over 16384 pages (64 MiB, 4 KiB paging)",
             20_000_000, 200_000),
    Workload("fib", "passes of naive recursive fib(18..21), ~19800 calls each", 5_000, 200),
    Workload("softint", "INT 0x80 + IRET in ring 0", 10_000_000, 100_000),
    Workload("syscall", "INT 0x80 from ring 3 to ring 0 and IRET back (TSS stack switch)",
             10_000_000, 100_000),
    Workload("portio", "OUT + IN pairs on the UART scratch register (0x3ff)", 20_000_000, 100_000),
    Workload("pagefault", "#PF + map + INVLPG + IRET, then unmap + INVLPG", 2_000_000, 20_000),
    Workload("smc", "store a new imm32 into code, then call it", 1_000_000, 20_000),
    Workload("x87", "x87 FILD/FSQRT/FADD/FDIV/FMUL iterations", 10_000_000, 100_000),
    Workload("linux", "one boot of Debian's i386 kernel with a busybox initramfs (tests/linux), "
             "timed from spawn to its line '@@dualvm-linux: init reached'", 1, 1, boot=True),
]

# The Linux boot (tests/linux): the images build-images.sh makes, the command line and the
# marker of boot-test.sh. The run is stopped (SIGTERM) once the marker is out.
LINUX_MARKER = "@@dualvm-linux: init reached"
LINUX_APPEND = "console=ttyS0 panic=-1"

# THE list of workloads that need something a system does not have yet. Only these may end
# with an "unimplemented instruction" and be reported as "unsupported" rather than failed, and
# only on the listed system and when the instruction dualvm names matches `mnemonic` (so a
# different missing instruction is still a failure). When a listed workload starts passing,
# the report says so: delete its entry then.
@dataclass(frozen=True)
class Need:
    systems: Tuple[str, ...]
    feature: str
    mnemonic: str   # regex on the mnemonic in dualvm's "unimplemented instruction" line


NEEDS: Dict[str, Need] = {
    # empty: the translator now has the x87 FPU and LTR/task switching
}

# Workloads that compute the same thing in a different way: when they run with the same n,
# their checksums must be equal too.
SAME_RESULT = [("mem_rep", "mem_loop"), ("softint", "syscall")]

MEM_MB = 128    # -m for every system; ptrchase needs 80 MiB, pagefault 96.25 MiB
ISA_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


# ----------------------------------------------------------------------------- the systems

@dataclass
class System:
    name: str
    argv: List[str]             # everything but -kernel/-append
    counts_insns: bool = False  # prints "dbt: guest instructions N" with -stats


def kvm_usable(allow_nested: bool) -> Tuple[bool, str]:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
    except OSError as e:
        return False, f"/dev/kvm: {e.strerror}"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    nested = any(line.startswith("flags") and " hypervisor" in line
                 for line in cpuinfo.splitlines())
    if nested and not allow_nested:
        return False, ("this host is itself a virtual machine (CPU flag 'hypervisor'): KVM "
                       "here is nested and its timings would not mean much "
                       "(--allow-nested-kvm runs it anyway)")
    return True, "nested KVM, timings not representative" if nested else ""


def find_systems(args) -> Tuple[List[System], Dict[str, str]]:
    """The systems to run, and for each one left out, why."""
    systems: List[System] = []
    skipped: Dict[str, str] = {}
    mem = ["-m", str(args.mem)]
    dualvm = [args.dualvm] + mem + ["-nographic"]
    if args.qemu and not shutil.which(args.qemu):
        args.qemu = None
    qemu = [args.qemu] + mem + ["-nographic", "-no-reboot", "-net", "none"] + ISA_EXIT \
        if args.qemu else None
    kvm_ok, kvm_why = kvm_usable(args.allow_nested_kvm)
    args.kvm_note = kvm_why if kvm_ok else ""
    wanted = args.systems.split(",") if args.systems else None

    candidates = [
        ("dualvm-dbt", dualvm + ["-accel", "dbt", "-stats"], True, ""),
        ("dualvm-kvm", dualvm + ["-accel", "kvm", "-stats"], False, "" if kvm_ok else kvm_why),
        ("qemu-tcg", (qemu or []) + ["-accel", "tcg"], False,
         "" if qemu else "qemu-system-i386 not found (Debian: qemu-system-x86)"),
        ("qemu-kvm", (qemu or []) + ["-accel", "kvm"], False,
         ("" if kvm_ok else kvm_why) if qemu else "qemu-system-i386 not found"),
    ]
    for name, argv, counts, why in candidates:
        if wanted is not None and name not in wanted:
            continue
        if why:
            skipped[name] = why
            continue
        systems.append(System(name, argv, counts))
    if wanted:
        unknown = set(wanted) - {c[0] for c in candidates}
        if unknown:
            print(f"bench: unknown system(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            raise SystemExit(2)

    # A system that cannot even boot the startup baseline is left out, with its own words:
    # e.g. a dualvm without its KVM engine yet says so on stderr.
    probe = args.guest_dir / "alu.elf"
    for s in list(systems):
        if not s.name.endswith("-kvm"):
            continue
        r = run_once(s, probe, 0, args.timeout)
        if r.outcome != "ok":
            systems.remove(s)
            skipped[s.name] = f"cannot run here: {r.why}"
    return systems, skipped


# ----------------------------------------------------------------------------- one run

@dataclass
class Run:
    system: str
    workload: str
    n: int
    seconds: float
    cpu_seconds: float
    status: Optional[int]           # None: timed out
    checksum: Optional[str]
    insns: Optional[int]
    outcome: str                    # ok | unsupported | fail
    why: str = ""
    stdout: str = ""
    stderr: str = ""


UNIMPL = re.compile(r"unimplemented instruction at \S+ \(linear [^)]*\): (\S+)")


def status_meaning(status: int) -> str:
    if status == 0:
        return "exited without the guest writing to isa-debug-exit (reset, shutdown, triple fault)"
    if status == 1:
        return ("the guest wrote 0 to isa-debug-exit but reported no checksum, or the emulator "
                "rejected its options")
    if status == 2:
        return "the guest could not go on"
    if status > 128:
        return f"killed by signal {status - 128}"
    if status < 0:
        return f"killed by signal {-status}"
    if status % 2 == 1:
        return f"the guest wrote {(status - 1) // 2} to isa-debug-exit"
    return "an emulator error"


def last_line(text: str, pattern: str = "") -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if pattern:
        lines = [ln for ln in lines if pattern in ln]
    return lines[-1] if lines else ""


def run_linux(s: System, images: Path, timeout: float) -> Run:
    """One boot of the Linux images to the marker: the time is spawn to the marker line."""
    argv = s.argv + ["-kernel", str(images / "bzImage"), "-initrd",
                     str(images / "initramfs.cpio"), "-append", LINUX_APPEND]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf)
        buf, marker_at, deadline = b"", None, t0 + timeout
        fd = p.stdout.fileno()
        while marker_at is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break   # the emulator ended before the marker
            buf += chunk
            if LINUX_MARKER.encode() in buf:
                marker_at = time.perf_counter()
        if p.poll() is None:
            p.terminate()   # dualvm prints -stats on SIGTERM; QEMU just ends
        try:
            rest, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rest, _ = p.communicate()
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace").replace("\r", "")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = (buf + (rest or b"")).decode("utf-8", "replace").replace("\r", "")
    m = re.search(r"dbt: guest instructions\s+(\d+)", err)
    seconds = (marker_at or time.perf_counter()) - t0
    r = Run(s.name, "linux", 1, seconds, cpu, p.returncode, None, int(m.group(1)) if m else None,
            "ok" if marker_at else "fail", stdout=out, stderr=err)
    if marker_at is None:
        if seconds >= timeout:
            r.why = f"no '{LINUX_MARKER}' within {timeout:g} s"
        else:
            r.why = (f"exit status {p.returncode} before '{LINUX_MARKER}': "
                     f"{last_line(err) or last_line(out)}")
    return r


def run_once(s: System, elf: Path, n: int, timeout: float, workload: str = "") -> Run:
    argv = s.argv + ["-kernel", str(elf), "-append", f"n={n}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # stdin /dev/null: with -nographic both emulators would otherwise take over a terminal.
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    timed_out = False
    try:
        out_b, err_b = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        p.kill()
        out_b, err_b = p.communicate()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = out_b.decode("utf-8", "replace").replace("\r", "")
    err = err_b.decode("utf-8", "replace").replace("\r", "")

    sums = re.findall(r"checksum: ([0-9a-f]{8})", out)
    m = re.search(r"dbt: guest instructions\s+(\d+)", err)
    r = Run(s.name, workload or elf.stem, n, seconds, cpu, None if timed_out else p.returncode,
            sums[-1] if sums else None, int(m.group(1)) if m else None, "fail",
            stdout=out, stderr=err)
    banner = f"bench: {r.workload} n={n}"

    if timed_out:
        r.why = f"timed out after {timeout:g} s"
    elif p.returncode == 1 and r.checksum and banner in out and "FAIL" not in out:
        r.outcome = "ok"
    elif p.returncode == 1 and r.checksum and banner not in out:
        r.why = f"the guest did not report '{banner}' (command line not passed?)"
    else:
        um = UNIMPL.search(err)
        need = NEEDS.get(r.workload)
        if um and need and s.name in need.systems and re.match(need.mnemonic, um.group(1)):
            r.outcome = "unsupported"
            r.why = f"{s.name.split('-')[1]}: not supported yet ({need.feature}): " \
                    f"{last_line(err, 'unimplemented instruction')}"
        else:
            detail = last_line(out, "FAIL") or last_line(err) or last_line(out)
            r.why = f"exit status {p.returncode} ({status_meaning(p.returncode)})"
            if detail:
                r.why += f": {detail}"
    return r


# ----------------------------------------------------------------------------- statistics

@dataclass
class Cell:
    """All runs of one workload under one system at one n."""
    runs: List[Run] = field(default_factory=list)

    @property
    def ok(self) -> List[Run]:
        return [r for r in self.runs if r.outcome == "ok"]

    @property
    def outcome(self) -> str:
        if not self.runs:
            return "not run"
        for kind in ("fail", "unsupported"):
            if any(r.outcome == kind for r in self.runs):
                return kind
        return "ok"

    @property
    def why(self) -> str:
        for r in self.runs:
            if r.outcome != "ok":
                return r.why
        return ""

    def median(self) -> Optional[float]:
        return statistics.median(r.seconds for r in self.ok) if self.ok else None

    def spread(self) -> Tuple[Optional[float], Optional[float]]:
        t = [r.seconds for r in self.ok]
        return (min(t), max(t)) if t else (None, None)

    def iqr(self) -> Optional[float]:
        t = sorted(r.seconds for r in self.ok)
        if len(t) < 4:
            return None
        q = statistics.quantiles(t, n=4, method="inclusive")
        return q[2] - q[0]

    def cpu_median(self) -> Optional[float]:
        return statistics.median(r.cpu_seconds for r in self.ok) if self.ok else None

    def insns(self) -> Optional[int]:
        counts = [r.insns for r in self.ok if r.insns is not None]
        return counts[0] if counts else None

    def checksums(self) -> List[str]:
        return sorted({r.checksum for r in self.ok if r.checksum})


# ----------------------------------------------------------------------------- the campaign

def campaign(args, systems: List[System], workloads: List[Workload]):
    cells: Dict[Tuple[str, str, str], Cell] = {}   # (workload, system, "work"|"base")
    sizes = {w.name: args.n.get(w.name, w.quick_n if args.quick else w.full_n)
             for w in workloads}
    plan = [(w, kind) for w in workloads for kind in (("work",) if w.boot else ("work", "base"))]
    total = args.runs * len(plan) * len(systems)
    done = 0
    for rnd in range(args.runs):
        # rotate the order every round: A B C, B C A, C A B, ...
        k = rnd % len(systems)
        order = systems[k:] + systems[:k]
        for w, kind in plan:
            n = sizes[w.name] if kind == "work" else 0
            for s in order:
                cell = cells.setdefault((w.name, s.name, kind), Cell())
                done += 1
                if cell.runs and cell.outcome != "ok":
                    continue    # failed or unsupported once: the verdict will not change
                if w.boot:
                    r = run_linux(s, args.linux_images, args.timeout)
                else:
                    r = run_once(s, args.guest_dir / f"{w.name}.elf", n, args.timeout, w.name)
                cell.runs.append(r)
                if r.outcome != "ok":
                    save_log(args.out, r)
                if not args.quiet:
                    tag = (r.checksum or "marker seen") if r.outcome == "ok" else r.outcome.upper()
                    print(f"[{done}/{total}] round {rnd + 1} {w.name:<9} n={n:<9} "
                          f"{s.name:<10} {r.seconds:8.3f} s  {tag}"
                          + ("" if r.outcome == "ok" else f": {r.why}"), flush=True)
    return cells, sizes


def save_log(out: Path, r: Run) -> None:
    d = out / "logs"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{r.workload}.{r.system}.n{r.n}.log").write_text(
        f"# {r.system} {r.workload} n={r.n}: {r.outcome}: {r.why}\n"
        f"# ---- stdout\n{r.stdout}\n# ---- stderr\n{r.stderr}\n")


def check(cells, sizes, systems, workloads) -> Tuple[List[str], List[str]]:
    """Failures (runs that failed, checksums that disagree) and notes."""
    failures: List[str] = []
    notes: List[str] = []
    for w in workloads:
        for kind in ("work", "base"):
            n = sizes[w.name] if kind == "work" else 0
            seen: Dict[str, List[str]] = {}
            for s in systems:
                cell = cells.get((w.name, s.name, kind))
                if not cell:
                    continue
                if cell.outcome == "fail":
                    failures.append(f"{w.name} n={n} on {s.name}: {cell.why}")
                for c in cell.checksums():
                    seen.setdefault(c, []).append(s.name)
            if len(seen) > 1:
                failures.append(f"{w.name} n={n}: checksums disagree: " + "; ".join(
                    f"{c} from {', '.join(v)}" for c, v in sorted(seen.items())))
            elif len(seen) == 1 and len(next(iter(seen.values()))) < 2 and len(systems) > 1:
                notes.append(f"{w.name} n={n}: checksum from one system only, not compared")
        need = NEEDS.get(w.name)
        if need:
            for sname in need.systems:
                cell = cells.get((w.name, sname, "work"))
                if cell and cell.outcome == "ok":
                    notes.append(f"{w.name} is listed in NEEDS ({need.feature}) but now runs on "
                                 f"{sname}: delete its entry in bench.py")
    for a, b in SAME_RESULT:
        if a in sizes and b in sizes and sizes[a] == sizes[b]:
            ca = {c for s in systems for c in cells.get((a, s.name, "work"), Cell()).checksums()}
            cb = {c for s in systems for c in cells.get((b, s.name, "work"), Cell()).checksums()}
            if ca and cb and ca != cb:
                failures.append(f"{a} and {b} compute the same thing but their checksums at "
                                f"n={sizes[a]} differ: {sorted(ca)} vs {sorted(cb)}")
    return failures, notes


# ----------------------------------------------------------------------------- reports

def fmt(x: Optional[float], digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def rows(cells, sizes, systems, workloads):
    """One dict per workload and system, the numbers of the table and the CSV."""
    out = []
    for w in workloads:
        ref = cells.get((w.name, "qemu-tcg", "work"))
        ref_t = ref.median() if ref else None
        ref_b = cells.get((w.name, "qemu-tcg", "base"))
        ref_work = (ref_t - ref_b.median()) if ref_t is not None and ref_b and \
            ref_b.median() is not None else None
        for s in systems:
            work = cells.get((w.name, s.name, "work"), Cell())
            base = cells.get((w.name, s.name, "base"), Cell())
            t, tb = work.median(), base.median()
            lo, hi = work.spread()
            blo, bhi = base.spread()
            insns = work.insns()
            wk = (t - tb) if t is not None and tb is not None else None
            outcome = work.outcome
            if outcome == "ok" and base.outcome != "ok" and not w.boot:
                outcome = f"baseline {base.outcome}"
            if outcome == "ok":
                for kind, cell in (("work", work), ("base", base)):
                    ref_c = cells.get((w.name, "qemu-tcg", kind))
                    theirs = set(ref_c.checksums()) if ref_c else set()
                    if len(cell.checksums()) > 1 or (theirs and set(cell.checksums()) != theirs):
                        outcome = "checksum mismatch" + (" (n=0)" if kind == "base" else "")
                        break
            out.append({
                "workload": w.name, "n": sizes[w.name], "system": s.name,
                "result": outcome, "why": work.why or base.why, "runs": len(work.ok),
                "median_s": t, "min_s": lo, "max_s": hi, "iqr_s": work.iqr(),
                "cpu_median_s": work.cpu_median(),
                "startup_median_s": tb, "startup_min_s": blo, "startup_max_s": bhi,
                "work_s": wk,
                "guest_insns": insns,
                "minsn_per_s": insns / t / 1e6 if insns and t else None,
                "work_minsn_per_s": (insns - (base.insns() or 0)) / wk / 1e6
                if insns and wk and wk > 0 else None,
                "time_vs_qemu_tcg": t / ref_t if t and ref_t else None,
                "speedup_vs_qemu_tcg": ref_t / t if t and ref_t else None,
                "work_speedup_vs_qemu_tcg": ref_work / wk
                if wk and ref_work and wk > 0 and ref_work > 0 else None,
                "checksum": ",".join(work.checksums()),
            })
    return out


def machine_info(args) -> List[str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def version(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout or r.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    build = "?"
    try:
        cache = (args.build_dir / "CMakeCache.txt").read_text()
        bt = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache, re.M)
        san = re.search(r"^DUALVM_SANITIZE:\w+=(.*)$", cache, re.M)
        build = (bt.group(1) if bt else "?") + (
            " WITH SANITIZERS: timings not representative"
            if san and san.group(1).upper() in ("ON", "TRUE", "1") else "")
    except OSError:
        pass
    return [f"host: {platform.node()}, {cpu or platform.machine()}, {os.cpu_count()} CPUs, "
            f"Linux {platform.release()}",
            f"dualvm: {version([args.dualvm, '--version'])} ({build} build); "
            f"QEMU: {version([args.qemu, '--version']) if args.qemu else 'absent'}",
            f"load average: {load}"]


def markdown(table, systems, skipped, failures, notes, args, info, started, elapsed,
             left_out) -> str:
    L = []
    L.append(f"# dualvm benchmarks ({'quick' if args.quick else 'full'} mode)")
    L.append("")
    L.append(f"{started:%Y-%m-%d %H:%M} UTC, {args.runs} run(s) per workload and system, "
             f"alternating, -m {args.mem}; {elapsed:.0f} s in all.")
    L.extend(f"- {x}" for x in info)
    L.append("")
    L.append("Times are whole processes (startup included), median over the runs that passed "
             "with [min-max]. *n=0* is the same workload with no work (boot, setup): the "
             "startup baseline; *work* = median - median(n=0). *Minsn/s* = guest "
             "instructions (dualvm -stats) / median time. *x qemu-tcg* = time / QEMU TCG's "
             "time; *speed-up* is its inverse (>1: faster than QEMU TCG), *work speed-up* the "
             "same on the work part only.")
    L.append("")
    hdr = ["workload", "n", "system", "result", "time s [min-max]", "n=0 s", "work s",
           "Minsn/s", "x qemu-tcg", "speed-up", "work speed-up", "checksum"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for r in table:
        t = f"{fmt(r['median_s'])} [{fmt(r['min_s'])}-{fmt(r['max_s'])}]" \
            if r["median_s"] is not None else ""
        res = r["result"]
        if res == "unsupported":
            res = r["why"].split(": dualvm:")[0]    # "dbt: not supported yet (feature)"
        if res != "ok":
            res = f"**{res}**"
        L.append("| " + " | ".join([
            r["workload"], str(r["n"]), r["system"], res, t, fmt(r["startup_median_s"]),
            fmt(r["work_s"]), fmt(r["minsn_per_s"], 1), fmt(r["time_vs_qemu_tcg"], 2),
            fmt(r["speedup_vs_qemu_tcg"], 2), fmt(r["work_speedup_vs_qemu_tcg"], 2),
            r["checksum"]]) + " |")
    L.append("")
    if skipped:
        L.append("Systems not run:")
        L.extend(f"- {k}: {v}" for k, v in skipped.items())
        L.append("")
    if left_out:
        L.append("Workloads not run:")
        L.extend(f"- {k}: {v}" for k, v in left_out.items())
        L.append("")
    unsupported = [r for r in table if r["result"] == "unsupported"]
    if unsupported:
        L.append("Unsupported (listed in NEEDS in benchmarks/bench.py, not failures):")
        L.extend(f"- {r['workload']} on {r['system']}: {r['why']}" for r in unsupported)
        L.append("")
    L.append(f"Failures: {len(failures)}")
    L.extend(f"- {f}" for f in failures)
    if notes:
        L.append("")
        L.append("Notes:")
        L.extend(f"- {x}" for x in notes)
    L.append("")
    L.append("Workloads:")
    for w in WORKLOADS:
        L.append(f"- {w.name}: n = {w.unit}")
    return "\n".join(L) + "\n"


def write_csv(path: Path, table) -> None:
    with path.open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(table[0].keys()))
        wr.writeheader()
        for r in table:
            wr.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def write_runs(path: Path, cells) -> None:
    with path.open("w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "system", "n", "seconds", "cpu_seconds", "status", "outcome",
                     "checksum", "guest_insns", "why"])
        for cell in cells.values():
            for r in cell.runs:
                wr.writerow([r.workload, r.system, r.n, f"{r.seconds:.6f}",
                             f"{r.cpu_seconds:.6f}", r.status, r.outcome, r.checksum or "",
                             r.insns if r.insns is not None else "", r.why])


def charts(out: Path, table, systems, workloads) -> str:
    """times.png and speedup.png through gnuplot; returns a note if they could not be made."""
    gnuplot = shutil.which("gnuplot")
    names = [s.name for s in systems]
    by = {(r["workload"], r["system"]): r for r in table}

    def dat(fname, key, cols):
        with (out / fname).open("w") as f:
            f.write("workload " + " ".join(cols) + "\n")
            for w in workloads:
                vals = [by[(w.name, c)][key] for c in cols]
                star = "*" if any(by[(w.name, c)]["result"] != "ok" for c in names) else ""
                f.write(w.name + star + " " + " ".join("?" if v is None else f"{v:.6g}"
                                                       for v in vals) + "\n")

    dat("times.dat", "median_s", names)
    others = [n for n in names if n != "qemu-tcg"]
    if "qemu-tcg" in names and others:
        dat("speedup.dat", "speedup_vs_qemu_tcg", others)
    common = ("set terminal pngcairo size 1200,600 noenhanced font ',10'\n"
              "set style data histogram\nset style histogram clustered gap 1\n"
              "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid ytics\n"
              "set key top left\nset xtics rotate by -30\nset datafile missing '?'\n"
              "set label 1 '* not passed on every system (unsupported or failed: see "
              "results.md)' at graph 0.99, graph 0.96 right\n")
    gp = common + (f"set output '{out}/times.png'\n"
                   "set title 'Whole-process time per workload (median; log scale; lower is "
                   "better)'\nset ylabel 'seconds'\nset logscale y\n"
                   f"plot for [i=2:{len(names) + 1}] '{out}/times.dat' using i:xtic(1) "
                   "title columnheader(i)\n")
    if "qemu-tcg" in names and others:
        gp += ("unset logscale y\n" f"set output '{out}/speedup.png'\n"
               "set title 'Speed-up over QEMU TCG (QEMU TCG time / time; log scale; >1 is "
               "faster)'\nset ylabel 'x'\nset logscale y\n"
               f"plot for [i=2:{len(others) + 1}] '{out}/speedup.dat' using i:xtic(1) "
               "title columnheader(i), 1 with lines lw 2 lc 'black' title 'QEMU TCG'\n")
    (out / "plot.gp").write_text(gp)
    if not gnuplot:
        return "gnuplot not found (Debian: gnuplot-nox): no PNG charts; plot.gp is written"
    r = subprocess.run([gnuplot, str(out / "plot.gp")], capture_output=True, text=True)
    if r.returncode != 0:
        return f"gnuplot failed: {last_line(r.stderr)}"
    return ""


# ----------------------------------------------------------------------------- main

def linux_images(args) -> str:
    """Have the linux workload's images; returns why not ("" when they are there). The full mode
    builds them (tests/linux/build-images.sh: Debian packages, downloaded once and cached)."""
    have = all((args.linux_images / f).is_file() for f in ("bzImage", "initramfs.cpio"))
    if have:
        return ""
    if args.quick:
        return (f"images not built ({args.linux_images}: tests/linux/build-images.sh makes "
                "them; the full mode builds them itself)")
    if args.linux_images.name != "i386":
        return f"{args.linux_images}: no bzImage and initramfs.cpio there"
    print(f"bench: building the Linux images in {args.linux_images} "
          "(tests/linux/build-images.sh)", flush=True)
    r = subprocess.run(["bash", str(REPO / "tests" / "linux" / "build-images.sh"),
                        str(args.linux_images.parent), "i386"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return f"the images could not be built: {last_line(r.stdout)}"
    return ""


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one run each (what ctest's bench.quick runs)")
    ap.add_argument("--runs", type=int, help="runs per workload and system (default 5, quick 1)")
    ap.add_argument("--build-dir", type=Path, default=REPO / "build",
                    help="the CMake build directory (default: build/ in the repository)")
    ap.add_argument("--dualvm", help="the dualvm binary (default: <build>/dualvm)")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-i386"),
                    help="qemu-system-i386 to compare with (default: from PATH)")
    ap.add_argument("--guest-dir", type=Path,
                    help="the workload ELFs (default: <build>/benchmarks/guests)")
    ap.add_argument("--linux-images", type=Path,
                    help="bzImage and initramfs.cpio of the linux workload (default: "
                    "<build>/linux-images/i386, made by tests/linux/build-images.sh; the full "
                    "mode builds them when missing, the quick mode leaves linux out)")
    ap.add_argument("--out", type=Path, help="where results go (default: "
                    "<build>/benchmarks/results, or <build>/benchmarks/quick with --quick)")
    ap.add_argument("--workloads", help="comma-separated subset of: " +
                    ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--systems", help="comma-separated subset of: "
                    "dualvm-dbt,dualvm-kvm,qemu-tcg,qemu-kvm")
    ap.add_argument("--n", action="append", default=[], metavar="WORKLOAD=N",
                    help="override a workload's size (repeatable)")
    ap.add_argument("--mem", type=int, default=MEM_MB, help=f"guest RAM in MiB (default {MEM_MB})")
    ap.add_argument("--timeout", type=float, help="seconds per run (default 300, quick 60)")
    ap.add_argument("--allow-nested-kvm", action="store_true",
                    help="use KVM even when this host is itself a virtual machine")
    ap.add_argument("--quiet", action="store_true", help="no line per run")
    args = ap.parse_args(argv)

    args.build_dir = args.build_dir.resolve()
    args.dualvm = args.dualvm or str(args.build_dir / "dualvm")
    args.guest_dir = (args.guest_dir or args.build_dir / "benchmarks" / "guests").resolve()
    args.linux_images = (args.linux_images or args.build_dir / "linux-images" / "i386").resolve()
    args.out = (args.out or args.build_dir / "benchmarks" /
                ("quick" if args.quick else "results")).resolve()
    args.runs = args.runs or (1 if args.quick else 5)
    args.timeout = args.timeout or (60.0 if args.quick else 300.0)
    sizes = {}
    for item in args.n:
        name, _, value = item.partition("=")
        if name not in {w.name for w in WORKLOADS} or not value.isdigit():
            ap.error(f"--n {item}: want WORKLOAD=N with a known workload")
        sizes[name] = int(value)
    args.n = sizes
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    workloads = WORKLOADS
    if args.workloads:
        wanted = args.workloads.split(",")
        unknown = set(wanted) - {w.name for w in WORKLOADS}
        if unknown:
            print(f"bench: unknown workload(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        workloads = [w for w in WORKLOADS if w.name in wanted]
    if not os.access(args.dualvm, os.X_OK):
        print(f"bench: {args.dualvm}: no dualvm binary there (build first, or give --dualvm)",
              file=sys.stderr)
        return 2
    missing = [w.name for w in workloads
               if not w.boot and not (args.guest_dir / f"{w.name}.elf").is_file()]
    if missing:
        print(f"bench: {args.guest_dir}: missing {', '.join(missing)}.elf (build the "
              "bench_guests target)", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    if (args.out / "logs").is_dir():
        shutil.rmtree(args.out / "logs")
    left_out: Dict[str, str] = {}
    if any(w.boot for w in workloads):
        why = linux_images(args)
        if why:
            left_out["linux"] = why
            workloads = [w for w in workloads if not w.boot]
            print(f"bench: not running linux: {why}", flush=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    systems, skipped = find_systems(args)
    info = machine_info(args)
    if args.kvm_note and any(s.name.endswith("-kvm") for s in systems):
        info.append(f"KVM: {args.kvm_note}")
    for k, v in skipped.items():
        print(f"bench: not running {k}: {v}", flush=True)
    if not systems:
        print("bench: no system to run", file=sys.stderr)
        return 1
    print(f"bench: {', '.join(s.name for s in systems)}; {len(workloads)} workloads, "
          f"{args.runs} run(s) each, results in {args.out}", flush=True)

    cells, sizes = campaign(args, systems, workloads)
    failures, notes = check(cells, sizes, systems, workloads)
    table = rows(cells, sizes, systems, workloads)
    info.append(machine_info(args)[-1].replace("load average", "load average at the end"))
    note = charts(args.out, table, systems, workloads) if table else ""
    if note:
        notes.append(note)
    md = markdown(table, systems, skipped, failures, notes, args, info, started,
                  time.perf_counter() - t0, left_out)
    (args.out / "results.md").write_text(md)
    if table:   # (none when the only workload asked for was left out)
        write_csv(args.out / "results.csv", table)
    write_runs(args.out / "runs.csv", cells)
    print()
    print(md)
    print(f"bench: {'FAILED' if failures else 'passed'}: {len(failures)} failure(s); "
          f"results in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
