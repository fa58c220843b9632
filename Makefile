# Goldgate: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else here is what they are made of.

JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DEB_BUILD ?= build-deb
CMAKE_FLAGS ?=

.PHONY: all deps deps-bench build build-asan build-fuzz deb demo test test-fast test-packages bench clean format check-format

all: build

deps:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOLDGATE_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGOLDGATE_WERROR=ON -DGOLDGATE_SANITIZE=ON $(CMAKE_FLAGS)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD) -j$(JOBS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOLDGATE_FUZZ=ON $(CMAKE_FLAGS)

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) -j$(JOBS) fuzz_targets

# Debian packages (debian/): goldgate-switch, goldgate-hostmon, goldgate-ctl and the goldgate
# metapackage, in $(DEB_BUILD)/packages. The three programs are built in $(DEB_BUILD) with Debian's
# hardening flags, incrementally (the build stamp is dropped so that a changed source is rebuilt).
deb: deps
	dpkg-checkbuilddeps
	rm -f debian/debhelper-build-stamp
	DEB_BUILD_OPTIONS="parallel=$(JOBS) $(DEB_BUILD_OPTIONS)" GOLDGATE_DEB_BUILD=$(DEB_BUILD) debian/rules binary

# The switch on a built-in demo topology: three VMs in two segments and an outside host, as
# network namespaces with real clients, showing allowed, denied, spoofed and quarantined traffic.
demo: build
	scripts/demo.sh $(BUILD)

# Every tier: unit, component, end-to-end and fuzz in the release build; unit and component
# again under AddressSanitizer + UndefinedBehaviorSanitizer; the Debian packages installed, run
# and purged (tests/packages).
test: build build-asan build-fuzz deb
	scripts/run-tests.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)/packages

# Unit and component tiers of the release build only (a quick check while developing).
test-fast: build
	ctest --test-dir $(BUILD) -L 'unit|component' --output-on-failure -j$(JOBS)

# The package tier alone: lintian, install, systemd-analyze verify, the switch from /etc/goldgate
# under its unit's confinement, purge.
test-packages: deb
	tests/packages/test_packages.sh $(DEB_BUILD)/packages

bench: deps-bench build
	bench/run.sh $(BUILD)

# The C++ sources laid out as .clang-format says: `format` applies it, `check-format` fails on a file
# that is not (CI runs it before the tests).
format: deps
	scripts/format.sh

check-format: deps
	scripts/format.sh --check

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
