# libblendarray — C core library, tests and fuzzers.
#
#   make              build/libblendarray.so and build/libblendarray.a
#   make test-c       build and run the C unit tests
#   make test-c-asan  the same, built into build/asan/ with ASan + UBSan
#   make test-python-asan  the extension's tests, ASan/UBSan build (build/asan/python)
#   make valgrind-cli render, inspect, preview under valgrind (build/valgrind)
#   make fuzz-replay  fuzz targets built with gcc + ASan/UBSan, replaying
#                     fuzz/corpus/<target>/*
#   make fuzz         libFuzzer (clang) runs, FUZZ_SECONDS each (default 60);
#                     fails on any crash, leak or sanitizer report
#   make clean

CC        ?= cc
FUZZ_CC   ?= clang
PKG_CONFIG ?= pkg-config
BUILD     ?= build
FUZZ_SECONDS ?= 60

SONAME_MAJOR := 0
LIBNAME   := libblendarray
SONAME    := $(LIBNAME).so.$(SONAME_MAJOR)

# OpenEXR's .pc file lists the C++ libraries too; only OpenEXRCore is needed.
EXR_CFLAGS := $(shell $(PKG_CONFIG) --cflags OpenEXR)
EXR_LIBS   := -L$(shell $(PKG_CONFIG) --variable=libdir OpenEXR) \
              -lOpenEXRCore$(shell $(PKG_CONFIG) --variable=libsuffix OpenEXR)
PNG_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpng)
PNG_LIBS   := $(shell $(PKG_CONFIG) --libs libpng)
ZIP_CFLAGS := $(shell $(PKG_CONFIG) --cflags libzip)
ZIP_LIBS   := $(shell $(PKG_CONFIG) --libs libzip)
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags jansson)
JSON_LIBS  := $(shell $(PKG_CONFIG) --libs jansson)

WARN      := -Wall -Wextra -Werror
CFLAGS    ?= -O2 -g
BA_CFLAGS := -std=c11 $(WARN) -fPIC -D_GNU_SOURCE -fvisibility=hidden \
             -Iinclude $(EXR_CFLAGS) $(PNG_CFLAGS) $(ZIP_CFLAGS) $(JSON_CFLAGS) $(CFLAGS)
LIBS      := $(EXR_LIBS) $(PNG_LIBS) $(ZIP_LIBS) $(JSON_LIBS) -lm

SANITIZE  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRC := src/error.c src/io.c src/convert.c src/exr.c src/png.c src/npy.c src/ring.c src/msg.c \
       src/npyread.c src/npystack.c src/npz.c src/renderer.c src/worker.c src/reply.c \
       src/atomic.c src/frames.c
HDR := include/blendarray.h src/internal.h src/renderer.h
OBJ := $(SRC:src/%.c=$(BUILD)/obj/%.o)

TEST_SRC := $(wildcard tests/c/test_*.c)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
TEST_HDR := tests/c/check.h tests/c/fixtures.h tests/c/reply_check.h

FUZZ_TARGETS := exr_fuzzer png_fuzzer ring_fuzzer npy_fuzzer frames_fuzzer reply_fuzzer

.PHONY: all lib test-c test-c-asan fuzz-replay fuzz-replay-run fuzz fuzz-bins fuzz-seeds clean

all: lib python cli
lib: $(BUILD)/$(LIBNAME).so $(BUILD)/$(LIBNAME).a

$(BUILD)/obj/%.o: src/%.c $(HDR) | $(BUILD)/obj
	$(CC) $(BA_CFLAGS) -c $< -o $@

$(BUILD)/$(LIBNAME).so: $(OBJ)
	$(CC) $(BA_CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $(OBJ) $(LIBS)
	ln -sf $(LIBNAME).so $(BUILD)/$(SONAME)

$(BUILD)/$(LIBNAME).a: $(OBJ)
	rm -f $@
	$(AR) rcs $@ $(OBJ)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/fuzz:
	mkdir -p $@

# Tests link the static library: they also exercise internal helpers'
# behaviour through the public API only, but need no LD_LIBRARY_PATH.
$(BUILD)/tests/%: tests/c/%.c $(TEST_HDR) $(BUILD)/$(LIBNAME).a | $(BUILD)/tests
	$(CC) $(BA_CFLAGS) -Itests/c $< -o $@ $(BUILD)/$(LIBNAME).a $(LIBS)

# Each test program prints "N passed, M failed"; the last line is the total.
test-c: $(TEST_BIN)
	@pass=0; fail=0; for t in $(TEST_BIN); do \
	    echo "== $$t"; $$t > $$t.out; rc=$$?; cat $$t.out; \
	    p=`sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$$/\1/p' $$t.out | tail -n 1`; \
	    f=`sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$$/\2/p' $$t.out | tail -n 1`; \
	    if [ $$rc -ne 0 ] && [ "$${f:-0}" -eq 0 ]; then f=1; fi; \
	    pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-1})); done; \
	echo "== all C tests"; echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# The same tests, everything rebuilt with sanitizers into build/asan/.
test-c-asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g $(SANITIZE)" test-c

# ---------------------------------------------------------------------------
# Fuzzing. The targets in fuzz/ define LLVMFuzzerTestOneInput; fuzz_main.c
# turns them into plain programs replaying files (libspng's pattern).

fuzz-replay:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g $(SANITIZE)" fuzz-replay-run

fuzz-replay-run: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%-replay)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== $$t: `ls fuzz/corpus/$$t | wc -l` inputs"; \
	    $(BUILD)/fuzz/$$t-replay fuzz/corpus/$$t/*; done

$(BUILD)/fuzz/%-replay: fuzz/%.c fuzz/fuzz_main.c $(TEST_HDR) $(BUILD)/$(LIBNAME).a | $(BUILD)/fuzz
	$(CC) $(BA_CFLAGS) $< fuzz/fuzz_main.c -o $@ $(BUILD)/$(LIBNAME).a $(LIBS)

FUZZ_BUILD := $(BUILD)/libfuzzer
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=all

# New corpus entries go to $(FUZZ_BUILD)/corpus/<target> (the first corpus
# folder: libFuzzer writes only there); fuzz/corpus/<target> is read only.
# Any crash, leak, timeout, out-of-memory or sanitizer report fails the run;
# the input is left in $(FUZZ_BUILD)/artifacts/<target>/ (commit it to
# fuzz/corpus/<target>/ as a regression input once the bug is fixed).
FUZZ_OPTIONS ?= -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=0

fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" fuzz-bins
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	    echo "== $$t for $(FUZZ_SECONDS)s"; \
	    ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	    $(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTIONS) \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	        $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t 2> $(FUZZ_BUILD)/$$t.log; rc=$$?; \
	    grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' $(FUZZ_BUILD)/$$t.log | tail -n 2; \
	    if [ $$rc -ne 0 ]; then \
	        tail -n 60 $(FUZZ_BUILD)/$$t.log; \
	        echo "fuzz: $$t failed (exit $$rc); the input is in $(FUZZ_BUILD)/artifacts/$$t/," \
	             "the whole log in $(FUZZ_BUILD)/$$t.log" >&2; \
	        exit 1; \
	    fi; \
	done

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%_fuzzer: fuzz/%_fuzzer.c $(TEST_HDR) $(BUILD)/$(LIBNAME).a | $(BUILD)/fuzz
	$(CC) $(BA_CFLAGS) -fsanitize=fuzzer $< -o $@ $(BUILD)/$(LIBNAME).a $(LIBS)

# Regenerate the seed corpus (small valid EXR and PNG files).
fuzz-seeds: $(BUILD)/tests/make_seeds
	$(BUILD)/tests/make_seeds fuzz/corpus

$(BUILD)/tests/make_seeds: tests/c/make_seeds.c $(TEST_HDR) $(BUILD)/$(LIBNAME).a | $(BUILD)/tests
	$(CC) $(BA_CFLAGS) -Itests/c $< -o $@ $(BUILD)/$(LIBNAME).a $(LIBS)

# ---------------------------------------------------------------------------
# The command-line tool: a client of the public header only.
CLI_SRC := cli/main.c cli/render.c cli/inspect.c cli/preview.c
CLI_BIN := $(BUILD)/blendarray

.PHONY: cli
cli: $(CLI_BIN)

$(CLI_BIN): $(CLI_SRC) cli/cli.h cli/elements.h include/blendarray.h src/internal.h $(BUILD)/$(LIBNAME).a
	$(CC) $(BA_CFLAGS) -fvisibility=default -Icli -Isrc $(CLI_SRC) -o $@ $(BUILD)/$(LIBNAME).a $(LIBS) \
	    -DBA_PYTHON_DIR='"$(abspath python)"' -DBA_PYTHON_EXE='"$(abspath $(PYTHON))"'

# ---------------------------------------------------------------------------
# Python side: the ctypes library that Blender's Python loads, and the CPython
# extension for the consumer. PYTHON is the interpreter the extension is for.
PYTHON    ?= .venv/bin/python
PYPKG     := python/blendarray
PY_INC     = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PY_EXT     = $(PYPKG)/_core$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")

.PHONY: python
python: $(PYPKG)/$(LIBNAME).so $(PY_EXT)

$(PYPKG)/$(LIBNAME).so: $(BUILD)/$(LIBNAME).so
	cp $< $@

PY_EXT_SRC := $(PYPKG)/_core.c $(PYPKG)/_core_renderer.c

$(PY_EXT): $(PY_EXT_SRC) $(PYPKG)/_core.h $(HDR) $(BUILD)/$(LIBNAME).a
	$(CC) $(BA_CFLAGS) -fvisibility=default -I$(PY_INC) -shared $(PY_EXT_SRC) -o $@ $(BUILD)/$(LIBNAME).a $(LIBS)
# ---------------------------------------------------------------------------
# The CPython extension under ASan/UBSan: $(BUILD)/asan/python/blendarray is
# a copy of the package with the sanitized _core and libblendarray.so.
# CPython is not built with ASan, so libasan is preloaded; CPython's own
# allocations at exit look like leaks, hence detect_leaks=0. The package is
# imported before pytest starts, so tests that put python/ first on sys.path
# still get the sanitized one (checked).
ASAN_PYTESTS := tests/python/test_transport.py tests/python/test_core_ext.py tests/python/test_stream.py \
                tests/python/test_renderer_ext.py
PY_ASAN_DIR  := $(BUILD)/asan/python

.PHONY: python-asan python-asan-pkg test-python-asan valgrind-cli

python-asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g $(SANITIZE)" python-asan-pkg

python-asan-pkg: $(BUILD)/$(LIBNAME).so $(BUILD)/$(LIBNAME).a
	rm -rf $(BUILD)/python/blendarray
	mkdir -p $(BUILD)/python
	tar -C python --exclude='*.so' --exclude=__pycache__ --exclude='*.c' -cf - blendarray | \
	    tar -C $(BUILD)/python -xf -
	cp $(BUILD)/$(LIBNAME).so $(BUILD)/python/blendarray/
	$(CC) $(BA_CFLAGS) -fvisibility=default -I$(PY_INC) -shared $(PY_EXT_SRC) \
	    -o $(BUILD)/python/blendarray/$(notdir $(PY_EXT)) $(BUILD)/$(LIBNAME).a $(LIBS)

test-python-asan: python-asan
	PYTHONPATH=$(abspath $(PY_ASAN_DIR)) \
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	$(PYTHON) -c 'import sys, pytest, blendarray, blendarray._core, blendarray._lib; \
	    want = "$(abspath $(PY_ASAN_DIR))/blendarray/"; \
	    assert all(m.__file__.startswith(want) for m in (blendarray, blendarray._core)), blendarray._core.__file__; \
	    assert blendarray._lib.lib._name.startswith(want), blendarray._lib.lib._name; \
	    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider"] + sys.argv[1:]))' $(ASAN_PYTESTS)

# ---------------------------------------------------------------------------
# The command-line tool under valgrind: a small render (the Blender workers
# are child processes, not traced), then inspect and preview of its output.
VALGRIND := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=1 --suppressions=tests/cli/valgrind.supp
VG_OUT   := $(BUILD)/valgrind

valgrind-cli: $(CLI_BIN) python
	rm -rf $(VG_OUT) && mkdir -p $(VG_OUT)
	$(VALGRIND) $(CLI_BIN) render -f 1-2 -p rgba,depth -e workbench --size 32x24 -q \
	    -o $(VG_OUT)/out.npz --force
	$(VALGRIND) $(CLI_BIN) inspect $(VG_OUT)/out.npz > $(VG_OUT)/inspect.txt
	$(VALGRIND) $(CLI_BIN) preview $(VG_OUT)/out.npz -o $(VG_OUT)/sheet.png
	@echo "valgrind-cli: render, inspect and preview clean"

# ---------------------------------------------------------------------------

clean:
	rm -rf $(BUILD) $(PYPKG)/$(LIBNAME).so $(PYPKG)/_core.*.so
