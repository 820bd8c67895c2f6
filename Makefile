# The two commands of the README:
#   make demo  - install what is missing, build, and run the scripted demo:
#                the Terraform workflow when terraform is on PATH, else the
#                JSON-RPC session (make demo-rpc runs that one directly)
#   make test  - install what is missing, build, and run every test (ctest)
#                except the variants CI adds (valgrind: make memcheck; the
#                Terraform workflows without plugin TLS: make notls): the
#                fast inner loop
#   make soak  - build, then provider-soak (bench/soak.c): thousands of mixed
#                operations with faults injected into cf-api-sim, checked
#                against its state; then, when terraform is on PATH,
#                bench/soak-terraform.sh (apply/destroy cycles with faults).
#                Knobs: SOAK_OPS, SOAK_CONCURRENCY, SOAK_FAULT_RATE,
#                SOAK_CANCEL_RATE, SOAK_SEED, SOAK_TF_CYCLES. Not part of
#                make test (it is long); see docs/RELIABILITY.md.
#   make memcheck - the valgrind variants (ctest label memcheck): the same
#                suites with the code under test inside valgrind; installs
#                valgrind when missing. Slow (minutes); CI runs both.
#   make bench - build, then bench/driver.c (bench-driver): every performance
#                comparison of issue 9 as interleaved pairs (provider,
#                baseline, ...) with cf-api-sim pinned to CPU 1 and the
#                programs to CPU 0, every answer checked; prints the table
#                (figure | provider | baseline | ratio | goal | verdict),
#                writes it as Markdown to $(BUILD_DIR)/bench/results.md and
#                renders docs/bench-throughput.png (installs gnuplot-nox when
#                missing). Exit 0 when every measurement was valid, goals met
#                or not. About a minute on an idle 2-core machine. Knobs:
#                BENCH_ROUNDS (5), BENCH_READS (10000), BENCH_VALIDATES
#                (100000), BENCH_START_ROUNDS (30), BENCH_MEM_READS (1000),
#                BENCH_MEM_BIG (10000), BENCH_MEM_DELAY_MS (2000),
#                BENCH_MEM_ROUNDS (1), BENCH_SWEEP_READS (2000),
#                BENCH_SWEEP_MAX (512), BENCH_SWEEP_ROUNDS (1),
#                BENCH_BRIDGE_ROUNDS (20), BENCH_TF_ROUNDS (5). See
#                docs/PERFORMANCE.md. Not part of make test (ctest
#                bench_smoke runs the driver on tiny inputs, no goals).
#   make fuzz  - the libFuzzer targets of fuzz/, built with clang in
#                build-fuzz/ and run FUZZ_SECONDS each (default 60); installs
#                clang when missing. See docs/RELIABILITY.md, "Fuzzing".
# make install puts both executables into Terraform's implied local mirror
# (~/.terraform.d/plugins/terraform.local/sso-connectors/cloudflare/...).
# Knobs: BUILD_DIR (default build), CMAKE_ARGS (e.g. -DSANITIZE=ON), JOBS,
# TEST_JOBS (tests at once, default 6),
# BUILD_TYPE. The compiler's output goes to $(BUILD_DIR)/build.log and is
# shown only when the build fails.

BUILD_DIR ?= build
JOBS ?= 2
# Tests run more at once than there are cores: most of them wait (on a
# simulator's delay, a timeout, a child's exit), and the four Terraform
# shares that do keep a core busy start first (their COST).
TEST_JOBS ?= 6
BUILD_TYPE ?= RelWithDebInfo
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build test memcheck notls soak bench fuzz demo demo-rpc install format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) >/dev/null

build: configure
	@echo "Building in $(BUILD_DIR)/ (log: $(BUILD_DIR)/build.log) ..."
	@cmake --build $(BUILD_DIR) -j$(JOBS) -- --no-print-directory >$(BUILD_DIR)/build.log 2>&1 \
		|| { cat $(BUILD_DIR)/build.log; echo "build failed"; exit 1; }
	@grep -i 'warning' $(BUILD_DIR)/build.log || true

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(TEST_JOBS) -LE "memcheck|notls"

# valgrind must be installed before configuring, or no memcheck test is
# registered (and --no-tests=error says so, instead of passing empty).
memcheck: export WITH_VALGRIND = 1
memcheck: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L memcheck --no-tests=error

SOAK_OPS ?= 4000
SOAK_CONCURRENCY ?= 24
SOAK_FAULT_RATE ?= 0.25
SOAK_CANCEL_RATE ?= 0.05
SOAK_TF_CYCLES ?= 4
export SOAK_OPS SOAK_CONCURRENCY SOAK_FAULT_RATE SOAK_CANCEL_RATE SOAK_SEED SOAK_TF_CYCLES

# The Terraform workflows again with TF_DISABLE_PLUGIN_TLS=1 (ctest label
# notls): a transport variant CI runs; make test runs the TLS mode.
notls: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(TEST_JOBS) -L notls --no-tests=error

soak: build
	@$(BUILD_DIR)/bin/provider-soak
	@if command -v terraform >/dev/null 2>&1; then \
		bench/soak-terraform.sh $(BUILD_DIR); \
	else echo "terraform is not on PATH: the Terraform soak is skipped"; fi

BENCH_KNOBS = BENCH_ROUNDS BENCH_READS BENCH_VALIDATES BENCH_START_ROUNDS BENCH_MEM_READS \
	BENCH_MEM_BIG BENCH_MEM_DELAY_MS BENCH_MEM_ROUNDS BENCH_SWEEP_READS BENCH_SWEEP_MAX \
	BENCH_SWEEP_ROUNDS BENCH_BRIDGE_ROUNDS BENCH_TF_ROUNDS BENCH_SEED BENCH_OUT_DIR BENCH_MARKDOWN
export $(BENCH_KNOBS)

# gnuplot-nox (for the throughput plot) is installed by deps when missing.
bench: export WITH_BENCH = 1
bench: build
	@$(BUILD_DIR)/bench/bench-driver

fuzz: export WITH_FUZZ = 1
fuzz: deps
	@fuzz/run.sh $(FUZZ_SECONDS)

demo: build
	@examples/terraform-demo.sh $(BUILD_DIR)

demo-rpc: build
	@$(BUILD_DIR)/bin/provider-demo

install: build
	@scripts/install-terraform-plugin.sh $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD_DIR)
