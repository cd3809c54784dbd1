#!/bin/sh
# tests/mpi/test_mpi.sh - the MPI tests (make MPI=1 copies this script to BUILD/test_mpi; tests/run.sh runs it
# with the other tests, `make test-mpi MPI=1` alone). Needs BUILD/mpi_unit and BUILD/train built with MPI=1.
#
#   1. mpi_unit under mpirun -np 1, 2 and 3: the all-reduce is the rank-order sum, N processes train bit for
#      bit like one process with N shards (both exchange modes), a failure on one process fails every
#      process's step without a hang, attach catches processes that start from different models;
#   2. mpi_unit --timeout: a process that stops taking part makes the others fail within the timeout;
#   3. demos/train: N processes against one process with --grad-shards N (the same final line but for
#      tokens_per_s, the same checkpoint bytes), with and without --overlap, with 2 and 3 processes; a resume
#      on 1 process from a 2-process run's checkpoint continues bit for bit; a resume on 3 processes works; a
#      batch the process count does not divide is refused; a failure on rank 0 (its checkpoint cannot be
#      written) stops every process with the message.
# Every mpirun runs under `timeout`: a hang is a failure, not a stuck CI. Ends with "test_mpi: N passed, N failed".
# MPIRUN overrides how processes are started (default: mpirun --oversubscribe, --allow-run-as-root as root).
dir=$(cd "$(dirname "$0")" && pwd)
if [ -z "$MPIRUN" ]; then
    MPIRUN="mpirun --oversubscribe"
    [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
export OMP_NUM_THREADS=1 # one thread per process: the processes are the parallelism here
pass=0
fail=0
work=$(mktemp -d "${TMPDIR:-/tmp}/umup_mpi.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: one check, passed when the command succeeds
    d=$1; shift
    if "$@"; then ok; else bad "$d"; fi
}
# run NAME SECONDS NP ARGS...: the program under mpirun with NP processes (NP 0: one process without mpirun),
# output in $work/NAME.out, exit status in $work/NAME.rc
run() {
    name=$1 secs=$2 np=$3; shift 3
    if [ "$np" = 0 ]; then timeout "$secs" "$@" >"$work/$name.out" 2>&1
    else timeout "$secs" $MPIRUN -np "$np" "$@" >"$work/$name.out" 2>&1; fi
    echo $? >"$work/$name.rc"
}
rc() { cat "$work/$1.rc"; }
# the final line without the throughput, which differs from run to run
final() { grep '^done steps=' "$work/$1.out" | tail -n 1 | sed 's/ tokens_per_s=.*//'; }
same_final() { a=$(final "$1"); b=$(final "$2"); [ -n "$a" ] && [ "$a" = "$b" ] || { echo "  '$a' vs '$b'"; false; }; }
same_bytes() { cmp "$work/$1" "$work/$2"; }
has() { grep -q "$2" "$work/$1.out" || { echo "  $1: no '$2' in:"; tail -n 5 "$work/$1.out"; false; }; }
# the unit program's own count, "test_mpi_unit (P processes): N passed, M failed"
add_unit() {
    line=$(grep -E '^test_mpi_unit .*: [0-9]+ passed, [0-9]+ failed' "$work/$1.out" | tail -n 1)
    if [ -z "$line" ] || [ "$(rc "$1")" != 0 ]; then
        bad "$1 (exit $(rc "$1"))"; grep -E '^FAIL' "$work/$1.out" | head -n 20; tail -n 5 "$work/$1.out"; return
    fi
    echo "$line"
    pass=$((pass + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    fail=$((fail + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
    grep -E '^FAIL' "$work/$1.out" | head -n 20
}

for np in 1 2 3; do
    run unit$np 300 $np "$dir/mpi_unit"
    add_unit unit$np
done

# a process that never takes part: rank 0 fails after the 2 s timeout and aborts the job (exit code 7)
start=$(date +%s)
run timeout 120 2 "$dir/mpi_unit" --timeout
took=$(($(date +%s) - start))
check "the timeout case ends by MPI_Abort with code 7 (got $(rc timeout))" [ "$(rc timeout)" = 7 ]
check "the timeout case passes its checks" has timeout 'test_mpi_timeout: [0-9]* passed, 0 failed'
check "the timeout case takes less than 60 s (took $took s)" [ "$took" -lt 60 ]

# demos/train: a small configuration (a few seconds a run); every option that the runs share
cd "$work" || exit 1
T="$dir/train --width 64 --seq 32 --steps 20 --eval-interval 10 --eval-batches 2 --corpus-bytes 200000 --sample 0 --dropout 0.1"
run ref2 300 0 $T --batch 6 --grad-shards 2 --save ref2.st      # one process, two shards: the reference
run mpi2 300 2 $T --batch 6 --save mpi2.st
check "2 processes: exit 0" [ "$(rc mpi2)" = 0 ]
check "2 processes: the final line of one process with --grad-shards 2" same_final ref2 mpi2
check "2 processes: the checkpoint bytes of one process with --grad-shards 2" same_bytes ref2.st mpi2.st
run ovl2 300 2 $T --batch 6 --overlap --save ovl2.st
check "2 processes, --overlap: the final line" same_final ref2 ovl2
check "2 processes, --overlap: the checkpoint bytes" same_bytes ref2.st ovl2.st
check "2 processes say so" has mpi2 'data parallel: 2 processes, 3 sequences each'

# resume: the 2-process run's checkpoint at step 10 (--save-every), continued on 1 process with 2 shards, ends
# like the uninterrupted run; on 3 processes it resumes too (3 shards: the sums differ in their last bits)
run every2 300 2 $T --batch 6 --save every2.safetensors --save-every 10
check "2 processes, --save-every 10: rank 0 wrote the step-10 checkpoint" [ -f "$work/every2.step00000010.safetensors" ]
run resume1 300 0 $T --batch 6 --grad-shards 2 --resume every2.step00000010.safetensors --save resume1.st
check "resume on 1 process from a 2-process checkpoint: the final line of the uninterrupted run" same_final ref2 resume1
check "resume on 1 process from a 2-process checkpoint: the checkpoint bytes" same_bytes ref2.st resume1.st
run resume3 300 3 $T --batch 6 --resume every2.step00000010.safetensors
check "resume on 3 processes from a 2-process checkpoint runs to the end" has resume3 '^done steps=20 train_loss=[0-9]'

# 3 processes: a batch of 6 matches one process with 3 shards; a batch of 8 is refused
run ref3 300 0 $T --batch 6 --grad-shards 3 --save ref3.st
run mpi3 300 3 $T --batch 6 --overlap --save mpi3.st
check "3 processes: the final line of one process with --grad-shards 3" same_final ref3 mpi3
check "3 processes: the checkpoint bytes of one process with --grad-shards 3" same_bytes ref3.st mpi3.st
run odd3 120 3 $T --batch 8
check "3 processes, --batch 8: exit 2 (got $(rc odd3))" [ "$(rc odd3)" = 2 ]
check "3 processes, --batch 8: the message" has odd3 'batch 8 is not a multiple of the 3 processes'
check "3 processes, --batch 8: reported once" [ "$(grep -c 'not a multiple' "$work/odd3.out")" = 1 ]

# a failure on rank 0 alone (its checkpoint cannot be written): every process stops, with rank 0's message
run nosave 120 2 $T --batch 6 --steps 4 --save "$work/no/such/dir/x.st"
check "a checkpoint rank 0 cannot write: exit 1 (got $(rc nosave))" [ "$(rc nosave)" = 1 ]
check "a checkpoint rank 0 cannot write: the message" has nosave 'rank 0: cannot save'

echo "test_mpi: $pass passed, $fail failed"
[ "$fail" = 0 ]
