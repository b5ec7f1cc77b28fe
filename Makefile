# Makefile — the README's commands; a thin wrapper around Meson.
BUILD      ?= build
TESTBUILD  ?= build-test
FUZZBUILD  ?= build-fuzz
PREFIX     ?= /usr/local
DESTDIR    ?=
FUZZ_SECONDS ?= 60

.PHONY: all setup build run test fuzz bench install clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dhardening=true --prefix=$(PREFIX)

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Starts the sinkhole with the bundled Rustock takedown, feeds it simulated
# check-ins, prints a summary and keeps serving until Ctrl-C.
run: build
	@scripts/demo $(BUILD)/sinkd

$(TESTBUILD)/build.ninja:
	meson setup $(TESTBUILD) --buildtype=debug -Dhardening=false -Db_sanitize=address,undefined -Db_lundef=false

test: setup $(TESTBUILD)/build.ninja
	ninja -C $(TESTBUILD)
	@scripts/run-tests $(TESTBUILD)

$(FUZZBUILD)/build.ninja:
	CC=clang-14 meson setup $(FUZZBUILD) --buildtype=debugoptimized -Dhardening=false -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz: setup $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	@scripts/fuzz $(FUZZBUILD) $(FUZZ_SECONDS)

bench: build
	@bench/http/run $(BUILD)

install: build
	meson configure $(BUILD) --prefix=$(PREFIX)
	meson install -C $(BUILD) --destdir "$(DESTDIR)" --no-rebuild
	install -D -m 0644 dist/sinkd.service "$(DESTDIR)$(PREFIX)/lib/systemd/system/sinkd.service"
	install -D -m 0644 examples/rustock.yaml "$(DESTDIR)$(PREFIX)/share/doc/sinkd/examples/rustock.yaml"

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(FUZZBUILD)
