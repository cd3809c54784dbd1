# umup - Makefile
#
#   make demo        build and run the main demo
#   make test        build every test into build/ and run them (ends with "N passed, N failed")
#   make asan        the same tests under AddressSanitizer + UBSan (quick variants)
#   make test-full   the tests with their exhaustive variants (all 2^32 float inputs, ...)
#   make bench       build and run the benchmarks in bench/
#   make plots       render docs/*.png with gnuplot from the CSVs of coord_check, lr_sweep, fp8_parity
#                    (RESULTS=dir: where the CSVs are, default results/; PLOTS=dir: where the PNGs go)
#   make clean       remove build/
#   make install     copy the headers and a pkg-config file under PREFIX (default /usr/local)
#
# Options: BLAS=1 (use CBLAS/OpenBLAS for the big matmuls), OPENMP=0 (build without OpenMP),
#          CC=clang, ARCH= (drop -march=native from demos and benchmarks), WERROR=1,
#          BUILD=dir (output folder; default build/, or build/blas with BLAS=1).
# The library itself needs nothing but libc and libm: see the top of umup.h.

CC      ?= cc
CXX     ?= c++
OPENMP  ?= 1
BLAS    ?= 0
ARCH    ?= -march=native
PREFIX  ?= /usr/local
ifeq ($(BLAS),1)
BUILD   ?= build/blas
else
BUILD   ?= build
endif

WARN    := -Wall -Wextra -Wpedantic -Wshadow
ifeq ($(WERROR),1)
WARN    += -Werror
endif
# Never -ffast-math: the FP8 casts and the transcendental functions rely on IEEE semantics.
CSTD    := -std=c99
OPT     := -O2 -g
FAST    := -O3 -g $(ARCH)
INC     := -I. -Itests
LIBS    := -lm

ifeq ($(OPENMP),1)
OMPFLAGS := -fopenmp
endif
ifeq ($(BLAS),1)
BLAS_CFLAGS := -DUMUP_USE_CBLAS $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif

CFLAGS_ALL = $(CSTD) $(WARN) $(INC) $(OMPFLAGS) $(BLAS_CFLAGS)
LDLIBS_ALL = $(OMPFLAGS) $(BLAS_LIBS) $(LIBS)

HEADERS := umup.h umup_fp8.h umup_cblas.h tests/umup_test.h $(wildcard tests/*.h)

B := $(BUILD)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(patsubst tests/%.c,$(B)/%,$(TEST_SRC))
ASAN_BIN  := $(patsubst tests/%.c,$(B)/asan/%,$(TEST_SRC))
DEMO_SRC  := $(wildcard demos/*.c)
DEMO_BIN  := $(patsubst demos/%.c,$(B)/%,$(DEMO_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/%,$(BENCH_SRC))
COMPILE_BIN := $(B)/compile_c99 $(B)/compile_cpp $(B)/compile_static $(B)/compile_two_tu $(B)/compile_no_trainer

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all test asan test-full bench demo demos plots clean install compile-checks

all: $(TEST_BIN) $(DEMO_BIN) $(BENCH_BIN) $(COMPILE_BIN)

$(B)/.dir:
	@mkdir -p $(B)/asan && touch $@

# ---- tests ---------------------------------------------------------------
$(B)/test_%: tests/test_%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(OPT) -o $@ $< $(LDLIBS_ALL)

$(B)/asan/test_%: tests/test_%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) -O1 -g $(SAN) -o $@ $< $(LDLIBS_ALL)

# Compile checks: the headers as strict C99, as C++, with UMUP_STATIC, from two translation units, and
# the core alone (UMUP_NO_TRAINER).
$(B)/compile_c99: tests/compile/c99.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_cpp: tests/compile/cpp.cpp $(HEADERS) | $(B)/.dir
	$(CXX) -std=c++11 $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_static: tests/compile/static.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_no_trainer: tests/compile/no_trainer.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_two_tu: tests/compile/two_tu_a.c tests/compile/two_tu_b.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 $(WARN) -Werror $(INC) -O1 -o $@ tests/compile/two_tu_a.c tests/compile/two_tu_b.c $(LIBS)

compile-checks: $(COMPILE_BIN)

# tests/test_demos runs the demos' --quick modes: they are built first and found through UMUP_DEMO_DIR.
test: $(COMPILE_BIN) $(TEST_BIN) $(DEMO_BIN)
	@UMUP_DEMO_DIR=$(B) sh tests/run.sh $(B)

asan: $(ASAN_BIN)
	@UMUP_TEST_QUICK=1 ASAN_OPTIONS=detect_leaks=1 sh tests/run.sh $(B)/asan

test-full: $(COMPILE_BIN) $(TEST_BIN) $(DEMO_BIN)
	@UMUP_TEST_FULL=1 UMUP_DEMO_DIR=$(B) sh tests/run.sh $(B)

# ---- demos and benchmarks ------------------------------------------------
$(B)/%: demos/%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(FAST) -o $@ $< $(LDLIBS_ALL)

$(B)/%: bench/%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(FAST) -o $@ $< $(LDLIBS_ALL)

demos: $(DEMO_BIN)

# The main demo: train a u-muP transformer in simulated FP8 on the embedded corpus (~35 s on 2 cores).
demo: $(B)/train
	./$(B)/train

# Figures: gnuplot renders docs/*.png from the CSVs the result demos wrote into RESULTS.
RESULTS ?= results
PLOTS   ?= docs
plots:
	@command -v gnuplot >/dev/null || { echo "make plots needs gnuplot (apt-get install gnuplot-nox)"; exit 1; }
	@mkdir -p $(PLOTS)
	@if [ -f $(RESULTS)/coord_check.csv ]; then for p in $$(awk -F, 'NR>1 && !s[$$1]++ {print $$1}' $(RESULTS)/coord_check.csv); do \
	    gnuplot -e "csv='$(RESULTS)/coord_check.csv'; param='$$p'; out='$(PLOTS)/coord_check_$$p.png'" demos/plots/coord_check.gp \
	    && echo "$(PLOTS)/coord_check_$$p.png" || exit 1; done; \
	    else echo "no $(RESULTS)/coord_check.csv (run ./$(B)/coord_check)"; fi
	@if [ -f $(RESULTS)/lr_sweep.csv ]; then gnuplot -e "csv='$(RESULTS)/lr_sweep.csv'; out='$(PLOTS)/lr_sweep.png'" demos/plots/lr_sweep.gp \
	    && echo $(PLOTS)/lr_sweep.png; else echo "no $(RESULTS)/lr_sweep.csv (run ./$(B)/lr_sweep)"; fi
	@if [ -f $(RESULTS)/fp8_parity_loss.csv ]; then gnuplot -e "dir='$(RESULTS)'; outdir='$(PLOTS)'" demos/plots/fp8_parity.gp \
	    && ls $(PLOTS)/fp8_parity*.png; else echo "no $(RESULTS)/fp8_parity_loss.csv (run ./$(B)/fp8_parity)"; fi

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ./$$b || exit 1; done

# ---- install / clean -----------------------------------------------------
install:
	mkdir -p $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	cp umup.h umup_fp8.h umup_cblas.h $(DESTDIR)$(PREFIX)/include/
	printf 'prefix=%s\nincludedir=$${prefix}/include\n\nName: umup\nDescription: single-header u-muP and FP8 numerics\nVersion: 0.1.0\nCflags: -I$${includedir}\nLibs: -lm\n' \
	    "$(PREFIX)" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/umup.pc

clean:
	rm -rf build
