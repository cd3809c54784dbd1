#!/bin/sh
# bench/mpi/scaling.sh BUILD - weak and strong scaling of data-parallel training on this machine
# (`make bench-mpi MPI=1`), 1 thread per process (OMP_NUM_THREADS=1), and the exchange alone.
#
# Each repetition runs, one after another (so that every ratio compares runs taken side by side):
#   p1_b16  1 process,  global batch 16            (the strong-scaling baseline)
#   p1_b8   1 process,  global batch 8             (the weak-scaling baseline: the per-process batch)
#   p2_b16  2 processes, global batch 16 (8 each)
#   p2_ovl  2 processes, global batch 16, --overlap
# and reports the medians over REPS (default 5) of
#   strong speedup    = tokens/s(p2_b16) / tokens/s(p1_b16)       (ideal 2)
#   weak efficiency   = step time(p1_b8) / step time(p2_b16)      (ideal 1)
#   overlap gain      = tokens/s(p2_ovl) / tokens/s(p2_b16)
# Then bench_mpi times the exchange alone (2 processes) for the demo model and for width 1024.
# Environment: REPS, STEPS (default 20), SEQ (64), WIDTH (128), MPIRUN.
B=${1:-build/mpi}
REPS=${REPS:-5}
STEPS=${STEPS:-20}
SEQ=${SEQ:-64}
WIDTH=${WIDTH:-128}
if [ -z "$MPIRUN" ]; then
    MPIRUN="mpirun --oversubscribe"
    [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
export OMP_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/umup_bench_mpi.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
ARGS="--width $WIDTH --seq $SEQ --steps $STEPS --eval-interval 1000000 --eval-batches 1 --corpus-bytes 1000000 --sample 0 --quiet"
echo "scaling: width $WIDTH, seq $SEQ, $STEPS steps per run, 1 thread per process, $REPS repetitions ($(getconf _NPROCESSORS_ONLN) cores)"
# tokens per second of one run (the final line's tokens_per_s)
tps() { np=$1; shift; $MPIRUN -np "$np" "$B/train" $ARGS "$@" 2>&1 | sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p' | tail -n 1; }
for r in $(seq 1 "$REPS"); do
    a=$(tps 1 --batch 16); b=$(tps 1 --batch 8); c=$(tps 2 --batch 16); d=$(tps 2 --batch 16 --overlap)
    if [ -z "$a" ] || [ -z "$b" ] || [ -z "$c" ] || [ -z "$d" ]; then echo "a run failed"; exit 1; fi
    # weak: step time ratio = (8 SEQ / b) / (16 SEQ / c) = c / (2 b)
    echo "$r $a $b $c $d" | awk '{ printf "rep %d: tokens/s p1_b16 %.0f  p1_b8 %.0f  p2_b16 %.0f  p2_ovl %.0f   strong %.3f  weak %.3f  overlap %.3f\n", $1, $2, $3, $4, $5, $4 / $2, $4 / (2 * $3), $5 / $4 }' | tee -a "$work/reps"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "median of $REPS: strong speedup (2 processes / 1, batch 16) $(awk '{print $13}' "$work/reps" | median)," \
     "weak efficiency (batch 8 per process) $(awk '{print $15}' "$work/reps" | median)," \
     "overlap gain $(awk '{print $17}' "$work/reps" | median)"
echo "the exchange alone (2 processes; median of 7 calls):"
$MPIRUN -np 2 "$B/bench_mpi" --width "$WIDTH" || exit 1
$MPIRUN -np 2 "$B/bench_mpi" --width 1024 --reps 5 || exit 1
