# gansim — top-level build. `make` builds the library and the tools, `make test`
# runs every Check suite, `make demo` runs the LUXE pipeline on toy data.
# Sources are discovered per module directory, so adding a file needs no edit here.

CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0

ifeq ($(NATIVE),1)
  ARCH := -march=native
else
  ARCH := -march=x86-64-v3
endif

OPENBLAS_PC := /usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig
PKGS        := hdf5 inih
BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
DEP_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(BLAS_CFLAGS)
DEP_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
               -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas -lm
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)

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
            -I. $(DEP_CFLAGS) -DGANSIM_VERSION=\"$(VERSION)\"
LDFLAGS  += -fopenmp
LDLIBS   := $(DEP_LIBS)

BUILD   ?= build
MODULES := core nn preprocess metrics datasets models api
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/gansim-*.c)
TOOLS   := $(TOOL_SRC:tools/%.c=bin/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS := $(foreach m,$(MODULES),$(wildcard $(m)/*.h))
PUBLIC_HEADERS := $(filter-out %_internal.h,$(HEADERS))
CXX     ?= g++
EXAMPLES := $(BUILD)/examples/sample_events $(BUILD)/examples/sample_threads

.PHONY: all deps test sanitize valgrind bench bench-compare demo demo-zdc ablation install clean examples
all: $(BUILD)/libgansim.a $(BUILD)/libgansim.so $(TOOLS)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgansim.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libgansim.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/%: tools/%.c tools/tool_common.h $(BUILD)/libgansim.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(BUILD)/libgansim.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(BUILD)/libgansim.a $(LDLIBS) $(CHECK_LIBS)

# The embedding examples, built against the library exactly as a user would
# (gansim.h on the include path, libgansim.a and its dependencies).
$(BUILD)/examples/sample_events: examples/sample_events.c api/gansim.h $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -Iapi $< -o $@ $(BUILD)/libgansim.a -fopenmp $(LDLIBS)

$(BUILD)/examples/sample_threads: examples/sample_threads.cpp api/gansim.h $(BUILD)/libgansim.a
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -Werror -Iapi $< -o $@ $(BUILD)/libgansim.a -fopenmp $(LDLIBS) -pthread

# `make examples` runs them on the model `make demo` trained.
examples: all $(EXAMPLES)
	@test -f demo-out/run/model.h5 || { echo "examples: run 'make demo' first (needs demo-out/run/model.h5)"; exit 1; }
	$(BUILD)/examples/sample_events demo-out/run/model.h5
	$(BUILD)/examples/sample_threads demo-out/run/model.h5

# Tests find the tools in bin/ and the examples in build/examples/.
test: deps
	@$(MAKE) --no-print-directory all $(TESTS) $(EXAMPLES)
	@GANSIM_BIN=$(CURDIR)/bin GANSIM_EXAMPLES=$(CURDIR)/$(BUILD)/examples scripts/run-tests $(TESTS)

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fopenmp -fsanitize=address,undefined" CK_FORK=no test

valgrind: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@GANSIM_BIN=$(CURDIR)/bin CK_FORK=no VALGRIND=1 scripts/run-tests $(TESTS)

bench: deps all
	bin/gansim-bench

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
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' gansim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gansim.pc

clean:
	rm -rf build build-san bin

# The allocation-counting test wraps the malloc family for the code it links.
$(BUILD)/tests/test_nn_train: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc \
    -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
$(BUILD)/tests/test_zdc: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc \
    -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
