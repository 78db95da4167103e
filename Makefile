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
MODULES := core nn preprocess metrics datasets models
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/gansim-*.c)
TOOLS   := $(TOOL_SRC:tools/%.c=bin/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS := $(foreach m,$(MODULES),$(wildcard $(m)/*.h))

.PHONY: all deps test sanitize valgrind bench demo demo-zdc ablation install clean
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

# Tests find the tools in bin/ (end-to-end suites call them).
test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@GANSIM_BIN=$(CURDIR)/bin scripts/run-tests $(TESTS)

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fopenmp -fsanitize=address,undefined" CK_FORK=no test

valgrind: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@GANSIM_BIN=$(CURDIR)/bin CK_FORK=no VALGRIND=1 scripts/run-tests $(TESTS)

bench: deps all
	bin/gansim-bench

demo: deps all
	@scripts/demo-luxe

# ZDC: a few-minute conditional training on toy data, evaluated on held-out conditions.
demo-zdc: deps all
	@scripts/demo-zdc

# ZDC ablation (4 variants x 3 seeds; long: set ZDC_ABL_ITERS, see the script's header).
ablation: deps all
	@scripts/ablation-zdc

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/gansim $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libgansim.a $(BUILD)/libgansim.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/gansim/
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' gansim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gansim.pc

clean:
	rm -rf build build-san bin

# The allocation-counting test wraps the malloc family for the code it links.
$(BUILD)/tests/test_nn_train: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc \
    -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
$(BUILD)/tests/test_zdc: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc \
    -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
