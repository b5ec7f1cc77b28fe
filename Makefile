# Makefile — the README's commands; a thin wrapper around Meson.
BUILD      ?= build
TESTBUILD  ?= build-test
TSANBUILD  ?= build-tsan
FUZZBUILD  ?= build-fuzz
PREFIX     ?= /usr/local
DESTDIR    ?=
FUZZ_SECONDS ?= 60

.PHONY: all setup build run test fuzz fuzz-build bench install clean

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

$(TSANBUILD)/build.ninja:
	meson setup $(TSANBUILD) --buildtype=debug -Dhardening=false -Db_sanitize=thread -Db_lundef=false

# meson test builds what it runs; run-tests always ends with "N passed, N failed, N skipped".
# The release build (what make run and make bench use) and the clang-14
# libFuzzer build (what make fuzz uses) are built first: -O3, _FORTIFY_SOURCE=3
# and clang warn about things the debug builds never see.
test: build fuzz-build $(TESTBUILD)/build.ninja $(TSANBUILD)/build.ninja
	@scripts/run-tests $(TESTBUILD) $(TSANBUILD)

$(FUZZBUILD)/build.ninja:
	CC=clang-14 meson setup $(FUZZBUILD) --buildtype=debugoptimized -Dhardening=false -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz-build: setup $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)

fuzz: fuzz-build
	@scripts/fuzz $(FUZZBUILD) $(FUZZ_SECONDS)

# Every benchmark in turn (each prints its table with the peers measured in
# the same run); BENCHES=dns limits it to some. Each is bounded in time.
BENCHES ?= http raw dns tls smtp enrich index web ship
bench: build
	@set -e; for b in $(BENCHES); do echo "== bench/$$b/run $(BUILD)"; bench/$$b/run $(BUILD); done

# Binary and man page (meson), the systemd unit with its sbin path filled in,
# the sinkd system user (sysusers.d), and /etc/sinkd/sinkd.yaml only if absent:
# an existing configuration is never overwritten.
install: build
	meson configure $(BUILD) --prefix=$(PREFIX)
	meson install -C $(BUILD) --destdir "$(DESTDIR)"
	install -d -m 0755 "$(DESTDIR)$(PREFIX)/lib/systemd/system" "$(DESTDIR)$(PREFIX)/lib/sysusers.d"
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' dist/sinkd.service > "$(DESTDIR)$(PREFIX)/lib/systemd/system/sinkd.service"
	chmod 0644 "$(DESTDIR)$(PREFIX)/lib/systemd/system/sinkd.service"
	printf 'u sinkd - "sinkd botnet sinkhole" /var/lib/sinkd\n' > "$(DESTDIR)$(PREFIX)/lib/sysusers.d/sinkd.conf"
	install -D -m 0644 examples/rustock.yaml "$(DESTDIR)$(PREFIX)/share/doc/sinkd/examples/rustock.yaml"
	install -D -m 0644 dist/sinkd.yaml "$(DESTDIR)$(PREFIX)/share/doc/sinkd/examples/sinkd.yaml"
	@if [ -e "$(DESTDIR)/etc/sinkd/sinkd.yaml" ]; then \
		echo "install: keeping the existing $(DESTDIR)/etc/sinkd/sinkd.yaml"; \
	else \
		install -D -m 0644 dist/sinkd.yaml "$(DESTDIR)/etc/sinkd/sinkd.yaml"; \
	fi
	@echo "install: done. As root: systemd-sysusers; systemctl daemon-reload; systemctl enable --now sinkd"

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(TSANBUILD) $(FUZZBUILD)
