# Thin wrapper around CMake. `make run` and `make test` are the two commands of the README.
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
JOBS       ?= $(shell nproc)

.PHONY: all deps run test unit integration test-sanitize test-valgrind check-builds bench format format-check clean

all: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

deps:
	@scripts/install-deps.sh

# the npm packages are for tests only: `make run` skips them
run:
	@AIGW_SKIP_NPM=1 scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@exec $(BUILD)/aigw serve --banner

test: deps all
	@cd $(BUILD) && ctest --output-on-failure
	@AIGW_BUILD=$(abspath $(BUILD)) node --test --test-concurrency=1 --test-force-exit tests/integration/

unit: all
	@cd $(BUILD) && ctest --output-on-failure

integration: all
	@AIGW_BUILD=$(abspath $(BUILD)) node --test --test-concurrency=1 --test-force-exit tests/integration/

# The same suite against binaries built with ASan and UBSan; any report fails the run.
test-sanitize: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIGW_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)
	@cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  AIGW_BUILD=$(abspath $(SAN_BUILD)) AIGW_SANITIZED=1 \
	  node --test --test-concurrency=1 --test-force-exit tests/integration/

# The whole tree (gateway, simulator, unit tests) as a packager builds it: CMAKE_BUILD_TYPE=Release
# (-O3), with gcc and with clang. Their warnings differ from -O2's and from each other's (gcc's
# -O3 flow analysis, clang's -Wformat-security and -Wstring-plus-int), and -Werror makes any of
# them a failed build. Compiles only; CI runs it.
check-builds:
	@AIGW_CLANG=1 AIGW_SKIP_NPM=1 scripts/install-deps.sh
	@for cc in gcc clang; do \
	  cmake -S . -B build-release-$$cc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$$cc >/dev/null && \
	  cmake --build build-release-$$cc -j $(JOBS) >/dev/null || exit 1; \
	  echo "check-builds: $$cc, Release: built"; \
	done

# The suite with the gateway under valgrind memcheck (slow; not part of CI).
test-valgrind: deps all
	@AIGW_BUILD=$(abspath $(BUILD)) AIGW_VALGRIND=1 node --test --test-concurrency=1 --test-force-exit tests/integration/

bench: all
	@AIGW_BENCH=1 scripts/install-deps.sh
	@bench/run.sh $(abspath $(BUILD))
	@bench/metering.sh $(abspath $(BUILD))

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) $(SAN_BUILD) build-release-gcc build-release-clang
