# haetae: the two commands are `make run` and `make test`.
# Build trees: build/release (run, bench, hardened), build/test (ASan+UBSan), build/fuzz (clang libFuzzer).
JOBS      ?= $(shell nproc)
RELEASE   := build/release
TESTBUILD := build/test
FUZZBUILD := build/fuzz
FUZZ_SECONDS ?= 15
CMAKE     := cmake -G Ninja -Wno-dev

.PHONY: all deps build install run test unit fuzz lint hardening bench clean

all: build

deps:
	@scripts/install-deps

$(RELEASE)/build.ninja:
	$(CMAKE) -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAETAE_TESTS=OFF

build: deps $(RELEASE)/build.ninja
	ninja -C $(RELEASE) -j $(JOBS) haetae haetae-agent

# Binaries to PREFIX/bin, rules and policies to PREFIX/share/haetae.
PREFIX ?= /usr/local
install: build
	cmake --install $(RELEASE) --prefix $(DESTDIR)$(PREFIX)

# The server on 127.0.0.1 and this host's agent enrolled with it, data under
# ./var (server: var/server, agent: var/agent); Ctrl-C stops both.
run: build
	$(RELEASE)/haetae up --data var

$(TESTBUILD)/build.ninja:
	$(CMAKE) -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=Debug -DHAETAE_SANITIZE=ON

unit: deps $(TESTBUILD)/build.ninja
	ninja -C $(TESTBUILD) -j $(JOBS)
	scripts/test-services
	cd $(TESTBUILD) && ctest --output-on-failure -j $(JOBS)

$(FUZZBUILD)/build.ninja:
	CC=clang $(CMAKE) -S . -B $(FUZZBUILD) -DCMAKE_BUILD_TYPE=Debug -DHAETAE_FUZZ=ON

fuzz: deps $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZBUILD)/tests/fuzz $(FUZZ_SECONDS)

lint: deps $(TESTBUILD)/build.ninja
	scripts/lint $(TESTBUILD)

# Release binaries carry PIE, full RELRO, NX stack, stack protector, fortify.
hardening: build
	scripts/check-hardening $(RELEASE)/haetae $(RELEASE)/haetae-agent

test: unit fuzz lint hardening

bench: build
	bench/run-all $(RELEASE)/haetae

clean:
	rm -rf build
