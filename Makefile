# Developer shortcuts over the meson build (meson.build is the build; this
# file only names the build folders and the checks CI runs).
#
#   make              build build/dev, the editable install's build folder
#                     (scripts/install.sh made it: pip install -e . into .venv)
#   make test-c       the C unit tests and the fuzz corpus replay (meson test)
#   make test-c-asan  the same, built into build/asan with ASan + UBSan
#   make fuzz-replay  the fuzz corpus replay alone, ASan + UBSan
#   make test-python-asan  the extension's tests against build/asan's package
#   make valgrind-cli render (and --coco), inspect, preview under valgrind
#   make fuzz         libFuzzer (clang) runs, FUZZ_SECONDS each (default 60), one
#                     target per job (make -j2 fuzz: two at a time); fails on any
#                     crash, leak or sanitizer report (scripts/fuzz-long.sh: long runs)
#   make fuzz-seeds   regenerate the seed corpus
#   make clean

PYTHON    ?= .venv/bin/python
MESON     ?= $(dir $(PYTHON))meson
DEV       ?= build/dev
ASAN      := build/asan
FUZZ_BUILD := build/libfuzzer
FUZZ_CC   ?= $(if $(shell command -v ccache),ccache clang,clang)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := exr_fuzzer png_fuzzer ring_fuzzer npy_fuzzer frames_fuzzer reply_fuzzer params_fuzzer labels_fuzzer npz_fuzzer \
                blend_fuzzer coco_fuzzer shards_fuzzer
SANITIZE  := -Db_sanitize=address,undefined -Db_lundef=false \
             -Dc_args="-fno-omit-frame-pointer -fno-sanitize-recover=all"

.PHONY: all dev test-c test-c-asan fuzz-replay test-python-asan valgrind-cli fuzz fuzz-build fuzz-seeds clean

all: dev
	ninja -C $(DEV)

# The editable install: the .venv's `import blendarray` is this checkout,
# rebuilt on import; build/dev is its meson build folder.
dev: $(DEV)/build.ninja
$(DEV)/build.ninja:
	@echo "no $(DEV): run ./scripts/install.sh (it installs blendarray into .venv, editable," \
	      "built in $(DEV))" >&2; exit 1

# Each test program prints "N passed, M failed"; the sum is the number of checks.
define sum_checks
	@sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$$/\1 \2/p' $(1)/meson-logs/testlog.txt | \
	    awk '{p += $$1; f += $$2} END {print "== all C tests: " p " passed, " f " failed"}'
endef

test-c: all
	$(MESON) test -C $(DEV) --print-errorlogs -q
	$(call sum_checks,$(DEV))

$(ASAN)/build.ninja:
	$(MESON) setup $(ASAN) -Dwerror=true -Dbuildtype=debug -Doptimization=1 -Dpython=enabled $(SANITIZE)

# test_renderer's fake worker is a plain python3, which cannot load a
# sanitized library: it gets build/dev's package.
test-c-asan: all $(ASAN)/build.ninja
	ninja -C $(ASAN)
	BLENDARRAY_LIB=$(abspath $(DEV))/python/blendarray/libblendarray.so \
	ROGUE_PYTHONPATH=$(abspath $(DEV))/python \
	    $(MESON) test -C $(ASAN) --print-errorlogs -q
	$(call sum_checks,$(ASAN))

fuzz-replay: $(ASAN)/build.ninja
	ninja -C $(ASAN)
	$(MESON) test -C $(ASAN) --print-errorlogs --suite fuzz-replay

# The CPython extension under ASan/UBSan: build/asan/python/blendarray is a
# complete package with the sanitized _core and libblendarray.so. CPython is
# not built with ASan, so libasan is preloaded; CPython's own allocations at
# exit look like leaks, hence detect_leaks=0. MESONPY_EDITABLE_SKIP turns the
# editable install's finder off so that PYTHONPATH's package is the one
# imported (checked before the tests start).
ASAN_PYTESTS := tests/python/test_transport.py tests/python/test_core_ext.py tests/python/test_stream.py \
                tests/python/test_renderer_ext.py tests/python/test_labels_kernel.py

test-python-asan: $(ASAN)/build.ninja
	ninja -C $(ASAN)
	PYTHONPATH=$(abspath $(ASAN))/python MESONPY_EDITABLE_SKIP=$(abspath $(DEV)) \
	LD_PRELOAD=$$(cc -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	$(PYTHON) -c 'import sys, pytest, blendarray, blendarray._core, blendarray._lib; \
	    want = "$(abspath $(ASAN))/python/blendarray/"; \
	    assert all(m.__file__.startswith(want) for m in (blendarray, blendarray._core)), blendarray._core.__file__; \
	    assert blendarray._lib.lib._name.startswith(want), blendarray._lib.lib._name; \
	    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider"] + sys.argv[1:]))' $(ASAN_PYTESTS)

# The command-line tool under valgrind: a small render (the Blender workers
# are child processes, not traced), then inspect and preview of its output.
VALGRIND := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=1 --suppressions=tests/cli/valgrind.supp
VG_OUT   := build/valgrind

valgrind-cli: all
	rm -rf $(VG_OUT) && mkdir -p $(VG_OUT)
	$(VALGRIND) $(DEV)/blendarray render -f 1-2 -p rgba,depth -e workbench --size 32x24 -q \
	    -o $(VG_OUT)/out.npz --force
	$(VALGRIND) $(DEV)/blendarray inspect $(VG_OUT)/out.npz > $(VG_OUT)/inspect.txt
	$(VALGRIND) $(DEV)/blendarray preview $(VG_OUT)/out.npz -o $(VG_OUT)/sheet.png
	$(VALGRIND) $(DEV)/blendarray render -f 1-2 -p rgba -e cycles -s 1 --size 32x24 -q \
	    -o $(VG_OUT)/labels.npz --coco $(VG_OUT)/coco --force
	$(VALGRIND) $(DEV)/blendarray inspect $(VG_OUT)/labels.npz > $(VG_OUT)/inspect-labels.txt
	$(VALGRIND) $(DEV)/blendarray preview $(VG_OUT)/labels.npz --annotations -o $(VG_OUT)/labels.png
	@echo "valgrind-cli: render (also --coco), inspect and preview (also --annotations) clean"

# ---------------------------------------------------------------------------
# libFuzzer. New corpus entries go to $(FUZZ_BUILD)/corpus/<target> (the first
# corpus folder: libFuzzer writes only there); fuzz/corpus/<target> is read
# only. Any crash, leak, timeout, out-of-memory or sanitizer report fails the
# run; the input is left in $(FUZZ_BUILD)/artifacts/<target>/ (commit it to
# fuzz/corpus/<target>/ as a regression input once the bug is fixed).
FUZZ_OPTIONS ?= -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=0

$(FUZZ_BUILD)/build.ninja:
	CC="$(FUZZ_CC)" $(MESON) setup $(FUZZ_BUILD) -Dwerror=true -Dbuildtype=debug -Doptimization=1 \
	    -Dpython=disabled -Dtests=false -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args="-fsanitize=fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=all"

fuzz-build: $(FUZZ_BUILD)/build.ninja
	MAKEFLAGS= ninja -C $(FUZZ_BUILD)  # its own jobs, not make's jobserver

# One rule per target, so that make -jN runs N at once (-O keeps each one's lines together).
fuzz: $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-run-%: fuzz-build
	@t=$*; mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	$(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTIONS) \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t 2> $(FUZZ_BUILD)/$$t.log; rc=$$?; \
	echo "== $$t for $(FUZZ_SECONDS)s: $$(grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' \
	    $(FUZZ_BUILD)/$$t.log | tail -n 2 | tr '\n' ' ')"; \
	if [ $$rc -ne 0 ]; then \
	    tail -n 60 $(FUZZ_BUILD)/$$t.log; \
	    echo "fuzz: $$t failed (exit $$rc); the input is in $(FUZZ_BUILD)/artifacts/$$t/," \
	         "the whole log in $(FUZZ_BUILD)/$$t.log" >&2; \
	    exit 1; \
	fi

# Regenerate the seed corpus (small valid EXR and PNG files).
fuzz-seeds: all
	ninja -C $(DEV) tests/c/make_seeds
	$(DEV)/tests/c/make_seeds fuzz/corpus

clean:
	rm -rf build

# The Blender add-on zips (4.2+ extension, 3.x legacy add-on) of build/dev's package.
.PHONY: addon
addon: all
	$(PYTHON) scripts/build-blender-addon.py --package $(DEV)/python/blendarray --out dist
