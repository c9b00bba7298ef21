# Front end for the CMake build; see docs/building.md.
#
#   make            build into build/ (RelWithDebInfo: -O2 -g, asserts on;
#                   the tests too when cmocka is installed)
#   make demo       build and run examples/run_demos.sh (needs only a C
#                   compiler and CMake)
#   make test       build and run the test suite (ctest)
#   make bench      Release build in build-bench/ and bench/run.sh
#   make asan       ASan+UBSan build in build-asan/ and ctest
#   make tsan       ThreadSanitizer build in build-tsan/, all but the patch
#                   tests
#   make valgrind   build in build-valgrind/ and ctest under valgrind
#   make portable   ucontext-switch build in build-portable/, greenlet tests
#   make aarch64    cross-build in build-aarch64/; the tests named in
#                   AARCH64_TESTS (all but the patch ones) under qemu
#   make format     clang-format -i every .c/.h we own
#   make install    install build/ (PREFIX=/usr/local)
#   make clean      remove the build directories above
#
# The targets that run tests first check the Debian packages they need
# (scripts/deps, the one package list): as root they install what is
# missing, otherwise they print the command to run and stop.
#
# KEEP_GOING=1 builds what compiles and runs the tests even when some target
# fails to compile (CI does this; the exit status still reports failure).
# WERROR=ON turns warnings into errors (CI does this); CMAKE_ARGS adds
# arguments to every configure step; JOBS sets the build parallelism;
# BUILD=dir renames the build directories (dir, dir-asan, dir-valgrind...),
# e.g. `make test BUILD=build-me` to keep out of a shared build/.

MAKEFLAGS += --no-print-directory

CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
PREFIX ?= /usr/local
CMAKE_ARGS ?=
CTEST_ARGS ?=
BUILD ?= build
# Tests (ctest -R regex) that make aarch64 runs under qemu; "." runs all.
# Left out: the patch tests (qemu-user's signal delivery and fd handling
# differ from a kernel's), examples_sync and graceful_server (they exec
# aarch64 binaries), and fork (qemu-user aborts when a child forked from a
# multithreaded guest starts a thread, which is what the fork tests check).
# The cross build is made without io_uring (GREEN_URING=OFF below): there is
# no arm64 liburing in scripts/deps, and qemu-user does not implement the
# io_uring system calls, so no <name>_uring test exists there; the fallback
# to epoll is tested natively (test uring).
# Of the TLS tests only tls (epoll, poll) runs: tls_peers and tls_examples exec the
# host's openssl and curl, or aarch64 examples, from the guest.
AARCH64_TESTS ?= ^(greenlet|hub|exports|headers|thread|timer|timeout|watchdog|event|semaphore|lock|queue|pool|sync_stress|handles|io|file|net|tpool|dns|multihub|http_fuzz|bufio|process|signal|select|group|tls_(epoll|poll)$$)|install_consumer|demos

# --fair-sched: valgrind runs one thread at a time, and its default lock lets
# a spinning green thread starve the watchdog's monitor thread.
VALGRIND_WRAPPER := valgrind;--fair-sched=yes;--error-exitcode=1;--leak-check=full;--errors-for-leak-kinds=definite,indirect;--show-leak-kinds=definite,indirect;--track-origins=no;-q

# $(call configure,<dir>,<build type>,<extra cmake args>)
# Every variant option is given explicitly (later -D wins), so a build
# directory never keeps a setting from an earlier configure.
configure = $(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) \
	-DGREEN_WERROR=$(WERROR) -DGREEN_SANITIZE=OFF -DGREEN_TSAN=OFF \
	-DGREEN_VALGRIND=OFF -DGREEN_NO_RECYCLE=OFF -DGREEN_URING=AUTO \
	-DGREEN_TEST_WRAPPER= -DGREEN_BUILD_BENCH=OFF -DGREEN_BUILD_TESTS=ON \
	$(3) $(CMAKE_ARGS)
build_dir = $(CMAKE) --build $(1) --parallel $(JOBS)
# $(call deps,<scripts/deps group>)
deps = scripts/deps install $(1)
# $(call build_and_test,<dir>,<ctest args>): build, then ctest.  With
# KEEP_GOING=1 (CI) a target that fails to compile does not stop the
# others, ctest still runs (the missing test fails), and the exit status
# is non-zero if anything failed.
build_and_test = status=0; \
	$(call build_dir,$(1)) $(if $(filter 1,$(KEEP_GOING)),-- -k) || status=$$?; \
	if [ $$status -eq 0 ] || [ "$(KEEP_GOING)" = 1 ]; then \
		(cd $(1) && $(CTEST) --output-on-failure --no-tests=error -j2 \
			$(2) $(CTEST_ARGS)) || status=1; \
	fi; \
	exit $$status

.PHONY: all demo test bench asan tsan valgrind portable aarch64 format \
	install clean

all:
	$(call configure,$(BUILD),RelWithDebInfo,-DGREEN_BUILD_TESTS=AUTO)
	$(call build_dir,$(BUILD))

demo: all
	examples/run_demos.sh $(BUILD)

test:
	@$(call deps,test)
	$(call configure,$(BUILD),RelWithDebInfo,)
	@$(call build_and_test,$(BUILD),)

bench:
	@$(call deps,bench)
	@test -x bench/run.sh || { echo "make bench: bench/run.sh is missing or not executable" >&2; exit 1; }
	$(call configure,$(BUILD)-bench,Release,-DGREEN_BUILD_BENCH=ON -DGREEN_BUILD_TESTS=OFF)
	$(call build_dir,$(BUILD)-bench)
	GREEN_BUILD_DIR=$(abspath $(BUILD)-bench) bench/run.sh $(abspath $(BUILD)-bench)

asan:
	@$(call deps,test)
	$(call configure,$(BUILD)-asan,RelWithDebInfo,-DGREEN_SANITIZE=ON)
	@$(call build_and_test,$(BUILD)-asan,)

# Left out of the TSan run, each checked by the other builds instead:
# - the patch tests, and install_consumer, which links the patch library
#   too: TSan intercepts the same libc calls as libgreen_patch;
# - fork: TSan does not support a child of a multithreaded process that
#   starts threads (its runtime aborts: "dup thread with used id");
# - examples_sync and demos: the examples assert throughput figures (an
#   executor that fills up, a speed-up), and a TSan fiber costs ~3 ms.
tsan:
	@$(call deps,test)
	$(call configure,$(BUILD)-tsan,RelWithDebInfo,-DGREEN_TSAN=ON)
	@$(call build_and_test,$(BUILD)-tsan,-E "^patch|install_consumer|^fork|^examples_sync|^demos$$")

# GREEN_TEST_SCALE is also set per test by tests/CMakeLists.txt; exported
# here for anything run outside ctest's test properties.
valgrind: export GREEN_TEST_SCALE = valgrind
valgrind:
	@$(call deps,test)
	$(call configure,$(BUILD)-valgrind,RelWithDebInfo,-DGREEN_VALGRIND=ON "-DGREEN_TEST_WRAPPER=$(VALGRIND_WRAPPER)")
	@$(call build_and_test,$(BUILD)-valgrind,)

portable:
	@$(call deps,test)
	$(call configure,$(BUILD)-portable,RelWithDebInfo,-DGREEN_PORTABLE_SWITCH=ON)
	@$(call build_and_test,$(BUILD)-portable,-R "greenlet|demos")

aarch64:
	@$(call deps,aarch64)
	$(call configure,$(BUILD)-aarch64,RelWithDebInfo,-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake -DGREEN_URING=OFF)
	@$(call build_and_test,$(BUILD)-aarch64,-R "$(AARCH64_TESTS)")

format:
	find src include tests bench examples \( -name '*.c' -o -name '*.h' \) \
		-print0 | xargs -0 -r clang-format -i

install: all
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD)-bench $(BUILD)-asan $(BUILD)-tsan $(BUILD)-valgrind \
		$(BUILD)-portable $(BUILD)-aarch64
