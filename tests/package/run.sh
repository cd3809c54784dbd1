#!/bin/sh
# tests/package/run.sh [OUT] - the ways a project consumes umup, each with a tiny consumer program
# (tests/package/consumer: a unit-scaled linear layer, an FP8 cast, the header from C and C++):
#   1. make install PREFIX=... (and with DESTDIR), pkg-config, then make uninstall removes exactly
#      what install wrote;
#   2. CMake add_subdirectory;
#   3. CMake FetchContent from an archive of the working tree (file:// URL);
#   4. CMake find_package(umup CONFIG) after cmake --install, and its version check.
# Run from anywhere (`make test-package` runs it with OUT = build/package). Needs cc, c++, make,
# pkg-config and cmake >= 3.14. Ends with "package: N passed, N failed"; exit status 0 only when
# nothing failed.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/package}
mkdir -p "$out" && out=$(cd "$out" && pwd)
# start clean: only what this script writes
rm -rf "$out/prefix-make" "$out/stage" "$out/sub" "$out/fetch" "$out/umup-build" "$out/prefix-cmake" \
    "$out/found" "$out/found99" "$out"/umup-*.tar.gz "$out/archive.lst" "$out"/*.o "$out/consumer-pc"
pass=0
fail=0
log="$out/log.txt"
: >"$log"

check() { # check NAME COMMAND...: runs the command (output to the log), counts a pass or a failure
    name=$1; shift
    echo "== $name: $*" >>"$log"
    if "$@" >>"$log" 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name (see $log)"; fi
}
expect_fail() { # the command must fail
    name=$1; shift
    echo "== $name (must fail): $*" >>"$log"
    if "$@" >>"$log" 2>&1; then fail=$((fail + 1)); echo "FAIL $name: succeeded (see $log)"; else pass=$((pass + 1)); fi
}
files_under() { (cd "$1" && find . -type f | sort); }

version=$(sed -n 's/^.define UMUP_VERSION_STRING "\([^"]*\)".*/\1/p' "$root/umup_fp8.h")
minor=${version%.*}
cons="$root/tests/package/consumer"
echo "umup $version; logs in $log"

# A consumer run must print its ok line with the version it was built against.
run_consumer() { "$1" | tee -a "$log" | grep -q "^consumer: umup $version openmp=[01] ok$"; }

# ---- 1. make install / pkg-config / make uninstall ---------------------------------------------
p="$out/prefix-make"
mkdir -p "$p/include" && echo "/* not umup's */" >"$p/include/other.h"
check "make install" make -C "$root" --no-print-directory install PREFIX="$p"
check "pkg-config version" test "$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --modversion umup)" = "$version"
build_pc() {
    flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --cflags --libs umup) &&
        cc -std=c99 -DEXPECT_VERSION="\"$version\"" -c "$cons/main.c" -o "$out/main.o" $flags &&
        c++ -c "$cons/other.cpp" -o "$out/other.o" $flags &&
        c++ -o "$out/consumer-pc" "$out/main.o" "$out/other.o" $flags
}
check "pkg-config consumer builds" build_pc
check "pkg-config consumer runs" run_consumer "$out/consumer-pc"
check "make uninstall" make -C "$root" --no-print-directory uninstall PREFIX="$p"
check "uninstall left only the file it did not install" test "$(files_under "$p")" = "./include/other.h"

d="$out/stage"
check "make install DESTDIR" make -C "$root" --no-print-directory install DESTDIR="$d" PREFIX=/opt/umup
check "DESTDIR: headers and .pc under DESTDIR/PREFIX" test "$(files_under "$d")" = "$(printf './opt/umup/include/umup.h\n./opt/umup/include/umup_cblas.h\n./opt/umup/include/umup_cuda.h\n./opt/umup/include/umup_fp8.h\n./opt/umup/lib/pkgconfig/umup.pc')"
check "DESTDIR: the .pc names PREFIX, not DESTDIR" grep -qx "prefix=/opt/umup" "$d/opt/umup/lib/pkgconfig/umup.pc"
check "make uninstall DESTDIR" make -C "$root" --no-print-directory uninstall DESTDIR="$d" PREFIX=/opt/umup
check "DESTDIR: nothing left" test -z "$(files_under "$d")"

# ---- CMake --------------------------------------------------------------------------------------
if ! command -v cmake >/dev/null 2>&1; then
    echo "cmake not found: the CMake checks are not run (apt-get install cmake)"
    fail=$((fail + 1))
else
    cm() { cmake "$@" >>"$log" 2>&1; }
    configure_build() { # DIR ARGS...: configure the consumer into DIR and build it
        dir=$1; shift
        cm -S "$cons" -B "$dir" -DUMUP_EXPECT_VERSION="$version" "$@" && cm --build "$dir"
    }

    # 2. add_subdirectory
    check "cmake add_subdirectory" configure_build "$out/sub" -DUMUP_CONSUME=subdirectory -DUMUP_SOURCE_DIR="$root"
    check "add_subdirectory consumer runs" run_consumer "$out/sub/consumer"

    # 3. FetchContent from an archive of the working tree (tracked and untracked, not ignored files)
    make_archive() {
        if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            (cd "$root" && git ls-files -co --exclude-standard | while read -r f; do [ -e "$f" ] && echo "$f"; done) >"$out/archive.lst"
        else
            printf 'CMakeLists.txt\ncmake\numup.h\numup_fp8.h\numup_cblas.h\nLICENSE\n' >"$out/archive.lst"
        fi
        tar -C "$root" -czf "$out/umup-$version.tar.gz" --transform "s,^,umup-$version/," -T "$out/archive.lst"
    }
    check "archive of the working tree" make_archive
    check "cmake FetchContent" configure_build "$out/fetch" -DUMUP_CONSUME=fetchcontent -DUMUP_URL="file://$out/umup-$version.tar.gz"
    check "FetchContent consumer runs" run_consumer "$out/fetch/consumer"

    # 4. cmake --install, then find_package
    inst="$out/prefix-cmake"
    check "cmake configure umup" cm -S "$root" -B "$out/umup-build" -DCMAKE_INSTALL_PREFIX="$inst"
    check "cmake --install" cm --install "$out/umup-build"
    check "installed: headers, LICENSE, config, version, targets, .pc" sh -c "
        cd '$inst' && test -f include/umup.h && test -f include/umup_fp8.h && test -f include/umup_cblas.h && test -f include/umup_cuda.h &&
        test -f share/doc/umup/LICENSE && ls */cmake/umup/umupConfig.cmake */cmake/umup/umupConfigVersion.cmake \
        */cmake/umup/umupTargets.cmake */pkgconfig/umup.pc"
    check "cmake find_package($minor)" configure_build "$out/found" -DUMUP_CONSUME=find_package \
        -DUMUP_REQUEST_VERSION="$minor" -DCMAKE_PREFIX_PATH="$inst"
    check "find_package consumer runs" run_consumer "$out/found/consumer"
    expect_fail "find_package(99.0) is refused" cm -S "$cons" -B "$out/found99" -DUMUP_CONSUME=find_package \
        -DUMUP_REQUEST_VERSION=99.0 -DCMAKE_PREFIX_PATH="$inst"
    check "every consumer agrees on OpenMP" sh -c "
        a=\$('$out/sub/consumer'); b=\$('$out/fetch/consumer'); c=\$('$out/found/consumer');
        test \"\$a\" = \"\$b\" && test \"\$a\" = \"\$c\""
fi

echo "package: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
