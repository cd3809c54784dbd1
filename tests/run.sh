#!/bin/sh
# tests/run.sh DIR...: run every test program DIR/test_* (and DIR/compile_*) of each DIR (default
# build), add up their "name: N passed, N failed" lines and end with one line "N passed, N failed".
# A program that crashes or exits non-zero without a summary counts as one failure.
# Exit status: 0 only when nothing failed.
# UMUP_TEST_WRAP: a command each program runs under (make valgrind: valgrind --error-exitcode=1 ...).
[ $# -gt 0 ] || set -- build
total_pass=0
total_fail=0
total_skip=0
found=0
for dir in "$@"; do
for t in "$dir"/compile_* "$dir"/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue ;; esac
    found=1
    name=$(basename "$t")
    log="$dir/$name.log"
    start=$(date +%s)
    $UMUP_TEST_WRAP "$t" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no summary line (exit $rc); last output:"
        tail -n 20 "$log"
        total_fail=$((total_fail + 1))
        continue
    fi
    p=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[^:]+: [0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    [ -n "$s" ] || s=0
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "$name: exit status $rc although no check failed (a sanitizer or valgrind report?); see $log"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
    echo "$line  ($((end - start)) s)"
    if [ "$f" -ne 0 ]; then grep -E '^(FAIL|  .*FAILED)' "$log" | head -n 40; fi
    grep -E '^SKIP' "$log" | head -n 10
done
done
if [ "$found" -eq 0 ]; then
    echo "no test programs found in $*"
    total_fail=1
fi
if [ "$total_skip" -ne 0 ]; then
    echo "($total_skip checks skipped; see the SKIP lines above)"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
