# promlab — top-level build. See README.md.
#   make            build build/bin/promlab (release, -O2 -g)
#   make test       install deps, build with ASan+UBSan, run every suite, print "N passed, N failed"
#   make demo       install deps, build, run the main walkthrough
#   make bench      long benchmarks (figures go to reports/)
#   make fuzz       libFuzzer harnesses, bounded time each
#   make deps       install missing Debian packages (idempotent, silent when all present)

BUILD    ?= build
CC       ?= gcc
PKGS     := libcurl libzstd libmicrohttpd libpcre2-8 libxxhash jansson yaml-0.1 zlib libprotobuf-c
CSTD     := -std=c17 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wshadow -Wstrict-prototypes
INC      := -Iimpl/src -I$(BUILD)/gen
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lsnappy -lpthread -lm

REL_CFLAGS  := $(CSTD) $(WARN) $(INC) $(PKG_CFLAGS) -O2 -g
ASAN_CFLAGS := $(CSTD) $(WARN) $(INC) $(PKG_CFLAGS) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC   := $(sort $(shell find impl/src -name '*.c' -not -path 'impl/src/cmd/*'))
# Remote read's protobuf messages: impl/src/remote/proto/*.proto compiled by protoc-c
# into $(BUILD)/gen at build time (generated C is never committed).
PROTO_SRC := $(sort $(wildcard impl/src/remote/proto/*.proto))
PROTO_C   := $(PROTO_SRC:impl/src/remote/proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_H   := $(PROTO_C:.c=.h)
CMD_SRC   := $(sort $(wildcard impl/src/cmd/*.c))
TEST_SRC  := $(sort $(wildcard impl/tests/test_*.c))
BENCH_SRC := $(sort $(wildcard impl/bench/*.c))
LAB_SRC   := $(sort $(wildcard labs/runner/*.c))
LOADGEN_SRC := $(sort $(wildcard loadgen/*.c))
# loadgen's objects without its main, for the unit tests (impl/tests/test_loadgen_*.c)
LOADGEN_LIB_ASAN_OBJ := $(patsubst %.c,$(BUILD)/asan/%.o,$(filter-out loadgen/main.c,$(LOADGEN_SRC)))
PROGRAMS  := $(BUILD)/bin/promlab $(if $(LAB_SRC),$(BUILD)/bin/promlab-lab) $(if $(LOADGEN_SRC),$(BUILD)/bin/promlab-loadgen)

REL_OBJ   := $(LIB_SRC:%.c=$(BUILD)/rel/%.o) $(PROTO_C:$(BUILD)/gen/%.c=$(BUILD)/rel/gen/%.o)
ASAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/asan/%.o) $(PROTO_C:$(BUILD)/gen/%.c=$(BUILD)/asan/gen/%.o)
REL_LIB   := $(BUILD)/rel/libpromlab.a
ASAN_LIB  := $(BUILD)/asan/libpromlab.a
.DEFAULT_GOAL := all
# The web UI's files, embedded into libpromlab as a generated C file.
UI_ASSETS := $(sort $(wildcard impl/src/web/ui/*))
UI_GEN    := $(BUILD)/gen/web_ui_assets.c
$(UI_GEN): $(UI_ASSETS) scripts/embed-assets.sh
	@mkdir -p $(dir $@)
	scripts/embed-assets.sh $@ $(UI_ASSETS)
REL_OBJ   += $(BUILD)/rel/gen/web_ui_assets.o
ASAN_OBJ  += $(BUILD)/asan/gen/web_ui_assets.o
$(BUILD)/rel/gen/web_ui_assets.o: $(UI_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c $< -o $@
$(BUILD)/asan/gen/web_ui_assets.o: $(UI_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c $< -o $@

TESTS     := $(TEST_SRC:impl/tests/%.c=$(BUILD)/asan/tests/%)
BENCHES   := $(BENCH_SRC:impl/bench/%.c=$(BUILD)/bin/%)

.PHONY: all deps test unit integration demo bench fuzz fmt lint clean lab labs
# Targets that need the packages re-enter make after deps, so pkg-config
# flags are computed once the -dev packages exist (a fresh machine has none).
all: deps
	@$(MAKE) --no-print-directory $(PROGRAMS) $(BENCHES)

deps:
	@scripts/deps.sh

# Generated protobuf code: one protoc-c run writes every .pb-c.c/.h pair.
$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=impl/src/remote/proto --c_out=$(BUILD)/gen $(PROTO_SRC)
$(BUILD)/rel/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/asan/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@
# Every object may include a generated header: generate them first.
$(REL_OBJ) $(ASAN_OBJ) $(CMD_SRC:%.c=$(BUILD)/rel/%.o) $(CMD_SRC:%.c=$(BUILD)/asan/%.o) $(TESTS): | $(PROTO_H)

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@

$(REL_LIB): $(REL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(ASAN_LIB): $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/promlab: $(CMD_SRC:%.c=$(BUILD)/rel/%.o) $(REL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/asan/bin/promlab: $(CMD_SRC:%.c=$(BUILD)/asan/%.o) $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/asan/tests/%: impl/tests/%.c $(ASAN_LIB) impl/tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Iimpl/tests -MMD -MP -MF $@.d -o $@ $< $(ASAN_LIB) $(PKG_LIBS) -lcmocka
# test_loadgen_*: also linked with loadgen's objects (the more specific pattern wins)
$(BUILD)/asan/tests/test_loadgen_%: impl/tests/test_loadgen_%.c $(LOADGEN_LIB_ASAN_OBJ) $(ASAN_LIB) impl/tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Iimpl/tests -Iloadgen -MMD -MP -MF $@.d -o $@ $< $(LOADGEN_LIB_ASAN_OBJ) $(ASAN_LIB) $(PKG_LIBS) -lcmocka

# promlab-lab and promlab-loadgen: every .c in their directory, linked with libpromlab.
$(BUILD)/bin/promlab-lab: $(LAB_SRC:%.c=$(BUILD)/rel/%.o) $(REL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/promlab-loadgen: $(LOADGEN_SRC:%.c=$(BUILD)/rel/%.o) $(REL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/asan/bin/promlab-loadgen: $(LOADGEN_SRC:%.c=$(BUILD)/asan/%.o) $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/%: impl/bench/%.c $(REL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -MF $@.d -o $@ $< $(REL_LIB) $(PKG_LIBS)

test: deps
	@$(MAKE) --no-print-directory -s $(TESTS) $(BUILD)/asan/bin/promlab $(PROGRAMS) $(if $(LOADGEN_SRC),$(BUILD)/asan/bin/promlab-loadgen)
	@BUILD=$(BUILD) scripts/run-tests.sh $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory -s $(PROGRAMS)
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory -s $(BENCHES) $(BUILD)/bin/promlab $(if $(LOADGEN_SRC),$(BUILD)/bin/promlab-loadgen)
	@scripts/bench.sh

# make lab PHASE=1 runs one lab natively; make labs runs every lab that exists.
lab: deps
	@$(MAKE) --no-print-directory -s $(PROGRAMS)
	$(BUILD)/bin/promlab-lab run labs/phase$(PHASE)

labs: deps
	@$(MAKE) --no-print-directory -s $(PROGRAMS)
	@set -e; for d in labs/phase*/; do echo "== $$d"; $(BUILD)/bin/promlab-lab run $$d; done

fuzz: deps
	@scripts/fuzz.sh

fmt:
	clang-format -i $$(find impl -name '*.[ch]')

lint: $(PROTO_H)
	cppcheck --quiet --enable=warning,performance,portability --std=c11 -Iimpl/src impl/src labs/runner loadgen
	clang-tidy --quiet $$(find impl/src labs/runner loadgen -name '*.c') -- $(CSTD) $(INC) $(PKG_CFLAGS)

clean:
	rm -rf $(BUILD)

# Header dependencies of every object and test binary (gcc -MMD), so a changed
# header rebuilds what includes it.
-include $(REL_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(CMD_SRC:%.c=$(BUILD)/rel/%.d) $(CMD_SRC:%.c=$(BUILD)/asan/%.d) \
         $(LAB_SRC:%.c=$(BUILD)/rel/%.d) $(LOADGEN_SRC:%.c=$(BUILD)/rel/%.d) $(LOADGEN_SRC:%.c=$(BUILD)/asan/%.d) $(TESTS:=.d) $(BENCHES:=.d)
