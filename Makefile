# nestdb's two everyday commands:
#
#   make demo                     # build and run the demo of the main job
#   make test                     # every test (what CI runs: .ci/run calls this)
#
# Build and install the C library: libnestdb.so (libnestdb.dylib on macOS), libnestdb.a,
# include/nestdb.h (+ the C++ wrapper nestdb.hpp) and a pkg-config file.
#
#   make                          # cargo build --release -p nestdb-ffi
#   make install PREFIX=/opt/nestdb [DESTDIR=...]
#   make uninstall PREFIX=/opt/nestdb
#   make test-c                   # tests/c/run.sh: header check, C/C++ tests under ASan/UBSan, install
#   make bench-c                  # bench/c/run.sh: nestdb vs hiredis + redis-server
#
# Then: cc app.c $(pkg-config --cflags --libs nestdb)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CARGO ?= cargo
CARGO_TARGET_DIR ?= target
RELEASE_DIR := $(CARGO_TARGET_DIR)/release

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ifeq ($(shell uname -s),Darwin)
SHARED_LIB := libnestdb.dylib
PRIVATE_LIBS := -lSystem -lc -lm
else
SHARED_LIB := libnestdb.so
# What a program linking libnestdb.a statically needs besides it (Rust's std on glibc).
PRIVATE_LIBS := -lpthread -ldl -lm
endif

.PHONY: all lib demo test install uninstall test-c bench-c

all: lib

lib:
	$(CARGO) build --release -p nestdb-ffi

demo:
	$(CARGO) run --release -p nestdb --example demo

test:
	bash scripts/test.sh

install: lib
	install -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	install -m 755 "$(RELEASE_DIR)/$(SHARED_LIB)" "$(DESTDIR)$(LIBDIR)/$(SHARED_LIB)"
	install -m 644 "$(RELEASE_DIR)/libnestdb.a" "$(DESTDIR)$(LIBDIR)/libnestdb.a"
	install -m 644 include/nestdb.h include/nestdb.hpp "$(DESTDIR)$(INCLUDEDIR)/"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@PRIVATE_LIBS@|$(PRIVATE_LIBS)|' \
	    ffi/nestdb.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/nestdb.pc"
	chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/nestdb.pc"

uninstall:
	rm -f "$(DESTDIR)$(LIBDIR)/$(SHARED_LIB)" "$(DESTDIR)$(LIBDIR)/libnestdb.a" \
	      "$(DESTDIR)$(INCLUDEDIR)/nestdb.h" "$(DESTDIR)$(INCLUDEDIR)/nestdb.hpp" \
	      "$(DESTDIR)$(PKGCONFIGDIR)/nestdb.pc"

test-c:
	tests/c/run.sh

bench-c:
	bench/c/run.sh
