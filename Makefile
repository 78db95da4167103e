# gansim — top-level build. `make` builds the library and the tools, `make test`
# runs every Check suite, `make demo` runs the LUXE pipeline on toy data.
# Sources are discovered per module directory, so adding a file needs no edit here.

CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0

# Debian's multiarch triplet (x86_64-linux-gnu, aarch64-linux-gnu, ...):
# where the OpenMP build of OpenBLAS keeps its pkg-config file.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
ifeq ($(MULTIARCH),)
  MULTIARCH := $(shell uname -m)-linux-gnu
endif
# x86-64-v2 (SSE4.2 + POPCNT, every x86-64 CPU since 2009; the EL9 baseline of
# grid worker nodes), so the tools run on any of them; the hot kernels are
# compiled for x86-64-v3 (AVX2 + FMA) and v4 (AVX-512) as well and chosen at
# run time (core/gs_cpu.h, GS_KERNEL). Elsewhere the compiler's default
# target. NATIVE=1 builds everything for this very CPU (no longer portable).
ifeq ($(NATIVE),1)
  ARCH := -march=native
else ifneq ($(filter x86_64%,$(MULTIARCH)),)
  ARCH := -march=x86-64-v2
else
  ARCH :=
endif

OPENBLAS_PC := /usr/lib/$(MULTIARCH)/openblas-openmp/pkgconfig
PKGS        := hdf5 inih libprotobuf-c
BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
DEP_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(BLAS_CFLAGS)
# HepMC3 (Debian's libhepmc3-dev ships neither a .pc file nor HepMC3-config;
# it sits on the default paths) and the C++ runtime for datasets/ds_hepmc3.cpp.
HEPMC3_LIBS := -lHepMC3 -lstdc++
DEP_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
               -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas $(HEPMC3_LIBS) -lm
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)
# where Debian's HDF5 filter plugins live (LZF, LZ4, BZip2, Blosc, Bitshuffle):
# kept on HDF5's search path even when a user's HDF5_PLUGIN_PATH replaces it
H5_PLUGIN_DIR := $(shell pkg-config --variable=PluginDir hdf5 2>/dev/null)
# MPI (Debian's OpenMPI) is for the tools only: comm/ implements core/gs_comm.h
# over MPI and goes into its own archive, so libgansim (and every program
# embedding it) never links or loads an MPI library.
MPI_CFLAGS  := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS    := $(shell pkg-config --libs ompi-c 2>/dev/null)

OPT      ?= -O3 $(ARCH)
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# clang reports `omp simd` loops it chose not to vectorise (e.g. libm calls)
# as errors under -Werror; gcc simply falls back to scalar code.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
  WARN += -Wno-pass-failed
endif
# -fno-math-errno -fno-trapping-math: gansim never reads errno or FP traps;
# both keep sqrtf, compares and selects from vectorising.
CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fopenmp -fno-math-errno -fno-trapping-math -fPIC \
            -I. -I$(BUILD)/gen $(DEP_CFLAGS) -DGANSIM_VERSION=\"$(VERSION)\" -DGS_H5_PLUGIN_DIR=\"$(H5_PLUGIN_DIR)\"
LDFLAGS  += -fopenmp
LDLIBS   := $(DEP_LIBS)

BUILD   ?= build
MODULES := core nn preprocess metrics datasets onnx models api
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
# ONNX's message definitions: C code generated at build time by protoc-c from
# the onnx.proto that Debian's libonnx-dev ships (onnx/ serialises with it).
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_GEN   := $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
# C++ units (only where a C++ library is wrapped: datasets/ds_hepmc3.cpp)
LIB_CXX_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.cpp))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX_SRC:%.cpp=$(BUILD)/%.o) $(BUILD)/gen/onnx.pb-c.o
TOOL_SRC := $(wildcard tools/gansim-*.c)
# Tools go to $(BIN); the sanitized build keeps its own copies so end-to-end
# tests run sanitized tools and never clobber the normal ones.
BIN     ?= bin
TOOLS   := $(TOOL_SRC:tools/%.c=$(BIN)/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
COMM_SRC := $(wildcard comm/*.c)
COMM_OBJ := $(COMM_SRC:%.c=$(BUILD)/%.o)
COMM_LIB := $(BUILD)/libgansim_comm.a
PUBLIC_HEADERS := $(filter-out %_internal.h,$(foreach m,$(MODULES),$(wildcard $(m)/*.h)))
HEADERS := $(foreach m,$(MODULES) comm,$(wildcard $(m)/*.h))
# The C++ examples and the Geant4-sketch test follow CC's compiler family
# (make's built-in default for CXX is g++ whatever CC says).
ifeq ($(origin CXX),default)
  ifneq ($(findstring clang,$(CC)),)
    CXX := $(subst clang,clang++,$(CC))
  else
    CXX := g++
  endif
endif
EXAMPLES := $(BUILD)/examples/sample_events $(BUILD)/examples/sample_threads \
            $(BUILD)/examples/g4_sketch

.PHONY: all deps test sanitize valgrind bench bench-compare bench-allreduce demo demo-zdc ablation install clean examples fuzz fuzz-build
all: $(BUILD)/libgansim.a $(BUILD)/libgansim.so $(COMM_LIB) $(TOOLS)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# protoc-c writes onnx.pb-c.{c,h} named after the .proto's own file name.
$(ONNX_GEN) &: $(ONNX_PROTO)
	@test -r $(ONNX_PROTO) || { echo "missing $(ONNX_PROTO): run scripts/install-deps (libonnx-dev)"; exit 1; }
	@mkdir -p $(BUILD)/gen
	cp $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	cd $(BUILD)/gen && protoc-c --c_out=. onnx.proto

$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
	$(CC) $(CFLAGS) -c $< -o $@

$(filter $(BUILD)/onnx/%,$(LIB_OBJ)): $(BUILD)/gen/onnx.pb-c.h

# C++ units go through the C compiler's driver (-x c++), so gcc and clang
# builds, the sanitizers and the fuzzing flags all apply to them unchanged.
LIB_CXXFLAGS = -x c++ -std=c++17 $(filter-out -std=%,$(CFLAGS))
$(BUILD)/%.o: %.cpp $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CXXFLAGS) -c $< -o $@

$(BUILD)/libgansim.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libgansim.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(COMM_OBJ): CFLAGS += $(MPI_CFLAGS)
$(COMM_LIB): $(COMM_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/%: tools/%.c tools/tool_common.h $(BUILD)/libgansim.a $(COMM_LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(COMM_LIB) $(BUILD)/libgansim.a $(LDLIBS) $(MPI_LIBS)

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libgansim.a $(COMM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_LDFLAGS) $< -o $@ $(COMM_LIB) $(BUILD)/libgansim.a $(LDLIBS) $(MPI_LIBS) $(CHECK_LIBS)

# The HepMC3 test reads files back with HepMC3's own reader (a C++ helper).
$(BUILD)/tests/hepmc3_read.o: tests/hepmc3_read.cpp tests/hepmc3_read.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CXXFLAGS) -c $< -o $@

$(BUILD)/tests/test_hepmc3: tests/test_hepmc3.c tests/testutil.h tests/hepmc3_read.h \
                            $(BUILD)/tests/hepmc3_read.o $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/tests/hepmc3_read.o -o $@ $(BUILD)/libgansim.a \
	    $(LDLIBS) $(CHECK_LIBS)

# The embedding examples, built against the library exactly as a user would
# (gansim.h on the include path, libgansim.a and its dependencies).
$(BUILD)/examples/sample_events: examples/sample_events.c api/gansim.h $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -Iapi $< -o $@ $(BUILD)/libgansim.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/sample_threads: examples/sample_threads.cpp api/gansim.h $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -Werror -Iapi $< -o $@ $(BUILD)/libgansim.a $(LDFLAGS) $(LDLIBS) -pthread

# docs/embedding.md's Geant4 sketch: the cpp block after the "make test
# compiles" marker is extracted at build time (so the document and the test
# cannot drift), compiled against the stand-in Geant4 classes in
# tests/g4stub/ and run by tests/test_embed.c through run_sketch.cpp.
$(BUILD)/examples/g4_sketch.cpp: docs/embedding.md
	@mkdir -p $(dir $@)
	awk '/<!-- make test compiles/ {f = 1; next} f && /^```cpp/ {c = 1; next} c && /^```/ {exit} c' $< > $@
	@test -s $@ || { echo "$<: no cpp block after the 'make test compiles' marker" >&2; rm -f $@; exit 1; }

$(BUILD)/examples/g4_sketch: tests/g4stub/run_sketch.cpp $(BUILD)/examples/g4_sketch.cpp \
                             $(wildcard tests/g4stub/*.hh) api/gansim.h $(BUILD)/libgansim.a
	$(CXX) -std=c++17 -O2 -Wall -Wextra -Werror -Iapi -Itests/g4stub -I$(BUILD)/examples $< -o $@ \
	    $(BUILD)/libgansim.a $(LDFLAGS) $(LDLIBS) -pthread

# `make examples` runs them on the model `make demo` trained.
examples: all $(EXAMPLES)
	@test -f demo-out/run/model.h5 || { echo "examples: run 'make demo' first (needs demo-out/run/model.h5)"; exit 1; }
	$(BUILD)/examples/sample_events demo-out/run/model.h5
	$(BUILD)/examples/sample_threads demo-out/run/model.h5

# Tests find the tools in bin/ and the examples in build/examples/.
test: deps
	@$(MAKE) --no-print-directory all $(TESTS) $(EXAMPLES)
	@GANSIM_ROOT=$(CURDIR) GANSIM_BIN=$(CURDIR)/$(BIN) GANSIM_EXAMPLES=$(CURDIR)/$(BUILD)/examples GANSIM_FIXTURES=$(CURDIR)/tests/fixtures scripts/run-tests $(TESTS)

# Everything (library, tools, tests) in build-san/, tools in build-san/bin.
# allocator_may_return_null: the bad-input tests ask for absurd sizes and
# expect a clean "out of memory", not ASan's allocation-size abort.
sanitize: deps
	@ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
	    $(MAKE) --no-print-directory BUILD=build-san BIN=build-san/bin \
	    OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fopenmp -fsanitize=address,undefined" CK_FORK=no GANSIM_THREAD_MATRIX=0 test

valgrind: deps
	@$(MAKE) --no-print-directory all $(TESTS) $(EXAMPLES)
	@GANSIM_BIN=$(CURDIR)/$(BIN) GANSIM_EXAMPLES=$(CURDIR)/$(BUILD)/examples CK_FORK=no VALGRIND=1 GANSIM_THREAD_MATRIX=0 \
	    scripts/run-tests $(TESTS)

bench: deps all
	bin/gansim-bench

# The sum-all-reduce of a flat float buffer, 4 B .. 64 MiB, over 2 ranks on
# this machine (docs/scaling.md; on a cluster run build/bench/allreduce under
# mpirun / srun across nodes).
$(BUILD)/bench/allreduce: bench/allreduce.c $(BUILD)/libgansim.a $(COMM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(COMM_LIB) $(BUILD)/libgansim.a $(LDLIBS) $(MPI_LIBS)

bench-allreduce: deps $(BUILD)/bench/allreduce
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
	    mpirun --oversubscribe --bind-to none -np $(or $(NP),2) $(BUILD)/bench/allreduce

# gansim and PyTorch back to back (developer-side: needs Debian's python3-torch).
bench-compare: deps all
	/usr/bin/python3 bench/compare.py

demo: deps all
	@scripts/demo-luxe

# ZDC: a few-minute conditional training on toy data, evaluated on held-out conditions.
demo-zdc: deps all
	@scripts/demo-zdc

# ZDC ablation (4 variants x 3 seeds; long: set ZDC_ABL_ITERS, see the script's header).
ablation: deps all
	@scripts/ablation-zdc

# Headers keep their module folders (they include each other as "nn/nn.h");
# the embedding header gansim.h also sits at the top: #include <gansim.h>.
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/gansim $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libgansim.a $(BUILD)/libgansim.so $(DESTDIR)$(PREFIX)/lib/
	for h in $(PUBLIC_HEADERS); do install -D -m 644 $$h $(DESTDIR)$(PREFIX)/include/gansim/$$h; done
	install -m 644 api/gansim.h $(DESTDIR)$(PREFIX)/include/gansim/gansim.h
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@BLAS_LIBDIR@|$(BLAS_LIBDIR)|g' \
	    gansim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gansim.pc

# libFuzzer harnesses (clang): tests/fuzz/fuzz_NAME.c, seeds in
# tests/fuzz/corpus/NAME/ (read only; new inputs go to build-fuzz/corpus/NAME),
# findings to build-fuzz/artifacts/. Each runs FUZZ_SECONDS, one at a time
# (FUZZ_NAMES="csv config" picks some). Fork mode keeps going after a crash:
# HDF5 1.10 itself crashes on some corrupt files (docs/reliability.md), and
# that must not end the campaign for our own code; tests/fuzz/triage.sh
# then sorts the findings into ours and libhdf5's.
FUZZ_SECONDS ?= 60
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $< -o $@ $(BUILD)/libgansim.a $(LDLIBS)

fuzz-build:
	@GANSIM_WITH_DEV=1 scripts/install-deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz \
	    OPT="-O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN)" LDFLAGS="-fopenmp $(FUZZ_SAN)" \
	    $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/fuzz/%)

fuzz: fuzz-build
	@mkdir -p build-fuzz/artifacts
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p build-fuzz/corpus/$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	    ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	    build-fuzz/fuzz/fuzz_$$n -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	        -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -malloc_limit_mb=1024 \
	        -timeout=10 -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/$$n- \
	        build-fuzz/corpus/$$n tests/fuzz/corpus/$$n > build-fuzz/fuzz-$$n.log 2>&1; \
	    tail -n 1 build-fuzz/fuzz-$$n.log; \
	    found=$$(ls build-fuzz/artifacts | grep -c "^$$n-"); \
	    if [ "$$found" -gt 0 ]; then \
	        echo "fuzz: $$n: $$found findings; tests/fuzz/triage.sh build-fuzz/fuzz/fuzz_$$n build-fuzz/artifacts/$$n-*"; \
	    fi; \
	done

clean:
	rm -rf build build-san build-fuzz bin

# The allocation-counting test wraps the malloc family for the code it links
# (its own variable: `make sanitize` sets LDFLAGS on the command line, which
# would override a target-specific LDFLAGS +=).
MALLOC_WRAP := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
$(BUILD)/tests/test_nn_train $(BUILD)/tests/test_zdc $(BUILD)/tests/test_zdcflow $(BUILD)/tests/test_luxe $(BUILD)/tests/test_dist: TEST_LDFLAGS = $(MALLOC_WRAP)
