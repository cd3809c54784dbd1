# umup - Makefile
#
#   make demo        build and run the main demo
#   make test        build every test and example into build/ and run them (ends with "N passed, N failed")
#   make asan        the same tests under AddressSanitizer + UBSan (quick variants)
#   make test-full   the tests with their exhaustive variants (all 2^32 float inputs, ...)
#   make bench       build and run the benchmarks in bench/
#   make fuzz        build the libFuzzer targets in fuzz/ with clang (+ ASan + UBSan) and run each for
#                    FUZZ_SECONDS seconds (default 60) on its seed corpus; FUZZ=ckpt,data picks targets
#   make valgrind    the tests (quick variants) under valgrind --leak-check=full, errors fail
#   make plots       render docs/*.png with gnuplot from the CSVs of coord_check, lr_sweep, fp8_parity
#                    (RESULTS=dir: where the CSVs are, default results/; PLOTS=dir: where the PNGs go)
#   make clean       remove build/
#   make install     copy the headers and a pkg-config file under DESTDIR/PREFIX (default /usr/local)
#   make uninstall   remove exactly the files make install put there (same PREFIX and DESTDIR)
#   make test-package
#                    the ways a project consumes umup: make install + pkg-config + uninstall, and
#                    CMake's add_subdirectory, FetchContent and find_package (needs cmake)
#
# Options: BLAS=1 (use CBLAS/OpenBLAS for the big matmuls), OPENMP=0 (build without OpenMP),
#          CC=clang, ARCH= (drop -march=native: the GEMM then runs its plain-C micro-kernel; tests, demos
#          and benchmarks are all built with ARCH so that `make test` checks the SIMD kernels), WERROR=1,
#          BUILD=dir (output folder; default build/, or build/blas with BLAS=1).
#          CUDA=1: also the CUDA backend (umup_cuda.h): nvcc from CUDA_HOME (default /usr/local/cuda)
#          builds BUILD/gpu/umup_cuda.o, the GPU tests and bench_cuda, linked with cuBLAS/cuBLASLt;
#          `make test CUDA=1` / `make bench CUDA=1` run them after the CPU ones (SKIP lines without a
#          GPU), `make test-cuda CUDA=1` runs only them. CUDA_ARCH= the nvcc -gencode flags.
#          The CPU programs are the same with or without CUDA=1.
#          MPI=1: data parallelism over MPI (umup_mpi.h): everything is compiled with MPICC (default
#          mpicc; Debian: apt-get install openmpi-bin libopenmpi-dev) and -DUMUP_USE_MPI into build/mpi,
#          so BUILD/train runs under `mpirun -np N`; `make test MPI=1` adds the MPI tests (mpirun with 1, 2
#          and 3 processes), `make test-mpi MPI=1` runs only them, `make bench-mpi MPI=1` the scaling
#          benchmark. MPIRUN= how to start processes (default: mpirun --oversubscribe, plus
#          --allow-run-as-root for root).
# The library itself needs nothing but libc and libm: see the top of umup.h.

CC      ?= cc
CXX     ?= c++
OPENMP  ?= 1
BLAS    ?= 0
ARCH    ?= -march=native
PREFIX  ?= /usr/local
# The version, read from the one place it is written (umup_fp8.h's UMUP_VERSION_STRING).
VERSION := $(shell sed -n 's/^.define UMUP_VERSION_STRING "\([^"]*\)".*/\1/p' umup_fp8.h)
MPI     ?= 0
ifeq ($(MPI),1)
BUILD   ?= build/mpi$(if $(filter 1,$(BLAS)),-blas)
endif
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
# With OpenMP, link OpenBLAS's OpenMP build (Debian: libopenblas0-openmp) by its path: it runs its
# threads in the program's OpenMP pool, where the default pthreads build would start a second pool
# that fights the first for the cores. OPENBLAS_LIB=path overrides; without it, pkg-config's choice.
ifeq ($(OPENMP),1)
OPENBLAS_LIB ?= $(firstword $(wildcard /usr/lib/*/openblas-openmp/libopenblas.so.0 /usr/lib/openblas-openmp/libopenblas.so.0))
endif
ifneq ($(OPENBLAS_LIB),)
BLAS_LIBS   := $(OPENBLAS_LIB) -Wl,-rpath,$(dir $(OPENBLAS_LIB))
else
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif
endif

# ---- MPI=1: the MPI compiler wrapper for every program; the MPI tests and benchmark -----------------
ifeq ($(MPI),1)
MPICC       ?= mpicc
MPICXX      ?= mpicxx
override CC := $(MPICC)
MPI_CFLAGS  := -DUMUP_USE_MPI
endif

CFLAGS_ALL = $(CSTD) $(WARN) $(INC) $(OMPFLAGS) $(BLAS_CFLAGS) $(MPI_CFLAGS)
LDLIBS_ALL = $(OMPFLAGS) $(BLAS_LIBS) $(LIBS)

HEADERS := umup.h umup_fp8.h umup_cblas.h tests/umup_test.h $(wildcard tests/*.h) $(wildcard bench/*.h) $(if $(MPI_CFLAGS),umup_mpi.h)

B := $(BUILD)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(patsubst tests/%.c,$(B)/%,$(TEST_SRC))
ASAN_BIN  := $(patsubst tests/%.c,$(B)/asan/%,$(TEST_SRC))
DEMO_SRC  := $(wildcard demos/*.c)
DEMO_BIN  := $(patsubst demos/%.c,$(B)/%,$(DEMO_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/%,$(BENCH_SRC))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
# (the sanitizer run leaves out train_small: minutes under ASan; test_train covers the trainer there)
ASAN_EXAMPLE_BIN := $(patsubst examples/%.c,$(B)/asan/examples/%,$(filter-out examples/train_small.c,$(EXAMPLE_SRC)))
COMPILE_BIN := $(B)/compile_c99 $(B)/compile_cpp $(B)/compile_static $(B)/compile_two_tu $(B)/compile_no_trainer $(B)/compile_noposix \
             $(B)/compile_conversion

# ---- CUDA=1: the CUDA backend, its tests and benchmark in $(B)/gpu ------------------------------
CUDA      ?= 0
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89 \
             -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
G := $(B)/gpu
COMMA := ,
ifeq ($(CUDA),1)
ifeq ($(wildcard $(NVCC)),)
$(error CUDA=1: nvcc not found at $(NVCC); install the CUDA toolkit or set CUDA_HOME / NVCC)
endif
# nvcc's generated host code is not -Wpedantic-clean; the C side of the API is (tests/cuda/test_cuda.c).
NVFLAGS   := -std=c++14 $(CUDA_ARCH) -I. -Itests -Xcompiler -Wall,-Wextra,-Wshadow$(if $(filter 1,$(WERROR)),$(COMMA)-Werror)
ifeq ($(WERROR),1)
NVFLAGS   += -Werror all-warnings
endif
CUDA_INC  := -isystem $(CUDA_HOME)/include
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
CUDA_BIN  := $(G)/test_cuda $(G)/test_cuda_host $(G)/test_cuda_kernels $(G)/test_cuda_train $(G)/bench_cuda $(G)/train
CUDA_RUN  := $(G)
endif

# tests/mpi/test_mpi.sh (copied to BUILD/test_mpi, which tests/run.sh runs) drives mpi_unit and train under
# mpirun; umup_mpi.h also compiles as strict C99 and as C++.
ifeq ($(MPI),1)
MPI_BIN := $(B)/mpi_unit $(B)/bench_mpi $(B)/compile_mpi_c99 $(B)/compile_mpi_cpp $(B)/test_mpi
endif

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all test test-cuda test-mpi asan test-full test-package bench bench-mpi demo demos plots clean install uninstall compile-checks fuzz fuzz-build valgrind valgrind-run

all: $(TEST_BIN) $(DEMO_BIN) $(BENCH_BIN) $(COMPILE_BIN) $(EXAMPLE_BIN) $(CUDA_BIN) $(MPI_BIN)

$(B)/.dir:
	@mkdir -p $(B)/asan && touch $@

# ---- tests ---------------------------------------------------------------
$(B)/test_%: tests/test_%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(OPT) $(ARCH) -o $@ $< $(LDLIBS_ALL)

$(B)/asan/test_%: tests/test_%.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) -O1 -g $(ARCH) $(SAN) -o $@ $< $(LDLIBS_ALL)

# Compile checks: the headers as strict C99, as C++ (with ARCH: the SIMD kernels too), with UMUP_STATIC,
# from two translation units, the core alone (UMUP_NO_TRAINER), with UMUP_NO_POSIX (plain-C
# checkpoint files), and under -Wconversion (with OpenMP and ARCH).
$(B)/compile_c99: tests/compile/c99.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_cpp: tests/compile/cpp.cpp $(HEADERS) | $(B)/.dir
	$(CXX) -std=c++11 $(WARN) -Werror $(INC) -O1 $(ARCH) -o $@ $< $(LIBS)
$(B)/compile_static: tests/compile/static.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_no_trainer: tests/compile/no_trainer.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_noposix: tests/compile/noposix.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_conversion: tests/compile/conversion.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 $(WARN) -Wconversion -Werror $(INC) $(OMPFLAGS) -O1 $(ARCH) -o $@ $< $(OMPFLAGS) $(LIBS)
$(B)/compile_two_tu: tests/compile/two_tu_a.c tests/compile/two_tu_b.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 $(WARN) -Werror $(INC) -O1 -o $@ tests/compile/two_tu_a.c tests/compile/two_tu_b.c $(LIBS)

compile-checks: $(COMPILE_BIN)

# The examples: short programs that check their own claims (exit status 0); tests/test_examples runs them.
$(B)/examples/%: examples/%.c $(HEADERS) | $(B)/.dir
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(FAST) -o $@ $< $(LDLIBS_ALL)

$(B)/asan/examples/%: examples/%.c $(HEADERS) | $(B)/.dir
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O1 -g $(SAN) -o $@ $< $(LDLIBS_ALL)

# lr_sweep and train are built with the sanitizers too: test_demos runs lr_sweep's error exits
# (they must not leak).
ASAN_DEMOS := $(B)/asan/lr_sweep $(B)/asan/train
$(ASAN_DEMOS): $(B)/asan/%: demos/%.c demos/lr_sweep_lib.h demos/train_args.h $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) -O1 -g $(ARCH) $(SAN) -o $@ $< $(LDLIBS_ALL)

# tests/test_demos runs the demos' --quick modes: they are built first and found through UMUP_DEMO_DIR;
# tests/test_examples runs the examples, found through UMUP_EXAMPLE_DIR.
test: $(COMPILE_BIN) $(TEST_BIN) $(DEMO_BIN) $(EXAMPLE_BIN) $(CUDA_BIN) $(MPI_BIN)
	@UMUP_DEMO_DIR=$(B) UMUP_EXAMPLE_DIR=$(B)/examples sh tests/run.sh $(B) $(CUDA_RUN)

asan: $(ASAN_BIN) $(ASAN_EXAMPLE_BIN) $(ASAN_DEMOS)
	@UMUP_TEST_QUICK=1 UMUP_EXAMPLE_DIR=$(B)/asan/examples UMUP_SAN_DEMO_DIR=$(B)/asan \
	    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 sh tests/run.sh $(B)/asan

# valgrind: the quick variants under memcheck; any error or leak fails the program (its log in
# $(B)/valgrind/test_*.log shows the report). Built in $(B)/valgrind without -march (valgrind does
# not decode AVX-512; the GEMM then runs its plain-C kernel). OMP_NUM_THREADS=1 by default (tests
# that compare thread counts still start OpenMP workers; tests/valgrind.supp covers their
# thread-local storage, and only that).
VALGRIND ?= valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible --suppressions=tests/valgrind.supp
valgrind:
	@$(MAKE) --no-print-directory valgrind-run ARCH= BUILD=$(B)/valgrind
valgrind-run: $(COMPILE_BIN) $(TEST_BIN)
	@UMUP_TEST_QUICK=1 OMP_NUM_THREADS=1 UMUP_TEST_WRAP="$(VALGRIND)" sh tests/run.sh $(B)

test-full: $(COMPILE_BIN) $(TEST_BIN) $(DEMO_BIN) $(EXAMPLE_BIN) $(CUDA_BIN) $(MPI_BIN)
	@UMUP_TEST_FULL=1 UMUP_DEMO_DIR=$(B) UMUP_EXAMPLE_DIR=$(B)/examples sh tests/run.sh $(B) $(CUDA_RUN)

# ---- CUDA=1 rules ---------------------------------------------------------------------------
# umup_cuda.o is compiled by nvcc; the GPU test and the benchmark are C programs linked with it.
test-cuda: $(CUDA_BIN)
	@[ "$(CUDA)" = 1 ] || { echo "make test-cuda needs CUDA=1"; exit 1; }
	@sh tests/run.sh $(G)

$(G)/.dir:
	@mkdir -p $(G) && touch $@

$(G)/umup_cuda.o: umup_cuda.cu umup_cuda.h $(HEADERS) | $(G)/.dir
	$(NVCC) $(NVFLAGS) -O3 -c -o $@ umup_cuda.cu

$(G)/test_cuda_host: tests/cuda/test_cuda_host.cu tests/cuda/cast_inputs.h umup_cuda.h $(HEADERS) | $(G)/.dir
	$(NVCC) $(NVFLAGS) -O2 -g -Xcompiler -fopenmp -cudart shared -o $@ $< \
	    -L$(CUDA_HOME)/lib64 -Xlinker -rpath=$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lgomp

$(G)/test_cuda_kernels: tests/cuda/test_cuda_kernels.cu umup_cuda.h $(HEADERS) | $(G)/.dir
	$(NVCC) $(NVFLAGS) -O2 -g -Xcompiler -fopenmp -cudart shared -o $@ $< \
	    -L$(CUDA_HOME)/lib64 -Xlinker -rpath=$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lgomp

$(G)/test_cuda: tests/cuda/test_cuda.c tests/cuda/cast_inputs.h $(G)/umup_cuda.o umup_cuda.h $(HEADERS) | $(G)/.dir
	$(CC) $(CFLAGS_ALL) $(CUDA_INC) $(OPT) -o $@ $< $(G)/umup_cuda.o $(LDLIBS_ALL) $(CUDA_LIBS)

$(G)/test_cuda_train: tests/cuda/test_cuda_train.c $(G)/umup_cuda.o umup_cuda.h $(HEADERS) | $(G)/.dir
	$(CC) $(CFLAGS_ALL) $(CUDA_INC) $(OPT) -o $@ $< $(G)/umup_cuda.o $(LDLIBS_ALL) $(CUDA_LIBS)

# the demo with the device trainer (--device cuda)
$(G)/train: demos/train.c demos/train_args.h $(G)/umup_cuda.o umup_cuda.h $(HEADERS) | $(G)/.dir
	$(CC) $(CFLAGS_ALL) $(CUDA_INC) $(FAST) -DUMUP_TRAIN_CUDA -o $@ $< $(G)/umup_cuda.o $(LDLIBS_ALL) $(CUDA_LIBS)

$(G)/bench_cuda: bench/cuda/bench_cuda.c $(G)/umup_cuda.o umup_cuda.h $(HEADERS) | $(G)/.dir
	$(CC) $(CFLAGS_ALL) $(CUDA_INC) $(FAST) -o $@ $< $(G)/umup_cuda.o $(LDLIBS_ALL) $(CUDA_LIBS)

# ---- MPI=1 rules ------------------------------------------------------------------------------
test-mpi: $(MPI_BIN) $(B)/train
	@[ "$(MPI)" = 1 ] || { echo "make test-mpi needs MPI=1"; exit 1; }
	@$(B)/test_mpi

bench-mpi: $(B)/bench_mpi $(B)/train
	@[ "$(MPI)" = 1 ] || { echo "make bench-mpi needs MPI=1"; exit 1; }
	@sh bench/mpi/scaling.sh $(B)

$(B)/mpi_unit: tests/mpi/test_mpi.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(OPT) -o $@ $< $(LDLIBS_ALL)

$(B)/bench_mpi: bench/mpi/bench_mpi.c $(HEADERS) | $(B)/.dir
	$(CC) $(CFLAGS_ALL) $(FAST) -o $@ $< $(LDLIBS_ALL)

$(B)/test_mpi: tests/mpi/test_mpi.sh | $(B)/.dir
	cp $< $@ && chmod +x $@

$(B)/compile_mpi_c99: tests/compile/mpi.c $(HEADERS) | $(B)/.dir
	$(CC) -std=c99 -pedantic-errors $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)
$(B)/compile_mpi_cpp: tests/compile/mpi_cpp.cpp $(HEADERS) | $(B)/.dir
	$(MPICXX) -std=c++11 $(WARN) -Werror $(INC) -O1 -o $@ $< $(LIBS)

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
	@if [ -f $(RESULTS)/levers/coord_check_summary.csv ]; then gnuplot -e "csv='$(RESULTS)/levers/coord_check_summary.csv'; \
	    out='$(PLOTS)/coord_check_levers.png'" demos/plots/coord_check_levers.gp && echo $(PLOTS)/coord_check_levers.png; fi
	@if [ -f $(RESULTS)/lr_sweep.csv ]; then gnuplot -e "csv='$(RESULTS)/lr_sweep.csv'; out='$(PLOTS)/lr_sweep.png'" demos/plots/lr_sweep.gp \
	    && echo $(PLOTS)/lr_sweep.png; else echo "no $(RESULTS)/lr_sweep.csv (run ./$(B)/lr_sweep)"; fi
	@if [ -f $(RESULTS)/fp8_parity_loss.csv ]; then gnuplot -e "dir='$(RESULTS)'; outdir='$(PLOTS)'" demos/plots/fp8_parity.gp \
	    && ls $(PLOTS)/fp8_parity*.png; else echo "no $(RESULTS)/fp8_parity_loss.csv (run ./$(B)/fp8_parity)"; fi

bench: $(BENCH_BIN) $(CUDA_BIN)
	@for b in $(BENCH_BIN) $(if $(CUDA_BIN),$(G)/bench_cuda); do echo "== $$b"; ./$$b || exit 1; done

# ---- fuzzing ---------------------------------------------------------------
# libFuzzer needs clang (Debian: clang and libclang-rt-dev). Each target is a plain C file in fuzz/
# with a seed corpus in fuzz/corpus/<target>; fuzz/run.sh runs them one after the other.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ         ?= ckpt,data,flags
FUZZ_LIST    := $(subst $(COMMA), ,$(FUZZ))
FUZZ_BIN     := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_LIST))
FUZZ_FLAGS   := -std=c99 -g -O1 $(WARN) -Wno-unknown-pragmas $(INC) -Ifuzz -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer

$(B)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(HEADERS) demos/train_args.h | $(B)/.dir
	@mkdir -p $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@sh fuzz/run.sh $(B)/fuzz $(FUZZ_SECONDS) $(FUZZ_LIST)

# ---- install / clean -----------------------------------------------------
INSTALL_HEADERS := umup.h umup_fp8.h umup_cblas.h umup_cuda.h
install:
	@test -n "$(VERSION)" || { echo "make install: no UMUP_VERSION_STRING in umup_fp8.h"; exit 1; }
	mkdir -p $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	cp $(INSTALL_HEADERS) $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@prefix@|$(PREFIX)|' -e 's|@version@|$(VERSION)|' cmake/umup.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/umup.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/,$(INSTALL_HEADERS)) $(DESTDIR)$(PREFIX)/lib/pkgconfig/umup.pc

test-package:
	sh tests/package/run.sh $(B)/package

clean:
	rm -rf build
