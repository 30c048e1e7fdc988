# The two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
DATA_DIR ?= sluice-data
PORT ?= 4566
JOBS ?= $(shell nproc)

.PHONY: run test build deps configure unit integration bench clean

deps:
	@scripts/setup.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/src/cmd/sluice server --data-dir $(DATA_DIR) --port $(PORT)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

integration: build
	@SLUICE_BIN=$(abspath $(BUILD_DIR))/src/cmd/sluice /usr/bin/python3 -m pytest -q tests

test: unit integration

bench: build
	@for b in bench/*/run.sh; do SLUICE_BIN=$(abspath $(BUILD_DIR))/src/cmd/sluice $$b || exit 1; done

clean:
	rm -rf $(BUILD_DIR)
