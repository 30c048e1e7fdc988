# The two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
DATA_DIR ?= sluice-data
PORT ?= 4566
JOBS ?= $(shell nproc)
# ccache hits across clones in other folders (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: run test build deps configure unit integration bench fuzz clean

deps:
	@scripts/setup.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Builds only the binary (the test suites come with `make test`).
run: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target sluice
	$(BUILD_DIR)/src/cmd/sluice server --data-dir $(DATA_DIR) --port $(PORT)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Suites run in parallel (pytest-xdist), one worker per file, each worker with its own server.
TEST_WORKERS ?= 3
integration: build
	@SLUICE_BIN=$(abspath $(BUILD_DIR))/src/cmd/sluice /usr/bin/python3 -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

test: unit integration

bench: build
	@for b in bench/*/run.sh; do SLUICE_BIN=$(abspath $(BUILD_DIR))/src/cmd/sluice $$b || exit 1; done

# libFuzzer targets under clang with ASan/UBSan, each run for FUZZ_SECONDS (default 60).
FUZZ_SECONDS ?= 60
# Every libFuzzer target (FUZZERS in the modules' CMakeLists.txt); add new ones here.
FUZZERS = sigv4_fuzz aws_chunked_fuzz json_request_fuzz query_params_fuzz key_path_fuzz pattern_fuzz pgwire_fuzz

fuzz:
	@scripts/setup.sh --fuzz
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSLUICE_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(FUZZERS)
	@for f in $(FUZZERS); do \
	  echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
	  bin=$$(find build-fuzz -name $$f -type f -perm -u+x | head -1); \
	  mkdir -p build-fuzz/corpus/$$f; \
	  $$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build-fuzz/corpus/$$f >/dev/null 2>build-fuzz/$$f.log \
	    || { tail -30 build-fuzz/$$f.log; exit 1; }; \
	done; echo "fuzz: no crashes"

clean:
	rm -rf $(BUILD_DIR) build-fuzz
