# The two commands of the README:
#   make demo  - install what is missing, build, and run the scripted demo
#   make test  - install what is missing, build, and run every test (ctest)
# Knobs: BUILD_DIR (default build), CMAKE_ARGS (e.g. -DSANITIZE=ON), JOBS.

BUILD_DIR ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build test demo install format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS) -- --no-print-directory

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

demo: build
	@$(BUILD_DIR)/examples/provider-demo

install: build
	cmake --install $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD_DIR)
