#!/bin/sh
# fuzz/run.sh DIR SECONDS TARGET...: runs each libFuzzer target DIR/fuzz_TARGET for SECONDS seconds,
# one after the other, on its seed corpus fuzz/corpus/TARGET (read only) plus a working corpus
# DIR/corpus/TARGET that keeps what it found between runs; prints each target's execution count
# and the total. Exit status 0 only when no target found a crash, a leak, a timeout or a sanitizer
# report (libFuzzer then leaves the input as DIR/crash-* and prints how to reproduce it).
dir=$1
secs=$2
shift 2
total=0
for t in "$@"; do
    bin="$dir/fuzz_$t"
    mkdir -p "$dir/corpus/$t"
    dict=""
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    log="$dir/fuzz_$t.log"
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
        -artifact_prefix="$dir/" $dict "$dir/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=0
    total=$((total + runs))
    if [ "$rc" -ne 0 ]; then
        echo "fuzz_$t: FAILED after $runs executions (exit $rc); the report:"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|check failed|abort' "$log" | head -n 20
        echo "full log: $log"
        exit 1
    fi
    echo "fuzz_$t: $runs executions in $secs s, 0 crashes, 0 sanitizer reports"
done
echo "fuzz: $total executions in total"
