#!/usr/bin/env bash
# make fuzz — builds every libFuzzer harness in impl/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for FUZZ_SECONDS
# (default 120) over its seed corpus impl/tests/data/<name>/ (name =
# harness without "fuzz_"). New inputs go to build/fuzz/corpus-<name>/;
# crashes to build/fuzz/ (add a reproducer to the malformed corpus when fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-120}
PKGS="libcurl libzstd libmicrohttpd libpcre2-8 libxxhash jansson yaml-0.1 zlib libprotobuf-c"
out=$BUILD/fuzz; mkdir -p "$out"
lib_src=$(find impl/src -name '*.c' -not -path 'impl/src/cmd/*')
scripts/embed-assets.sh "$out/web_ui_assets.c" impl/src/web/ui/*   # the UI files ui.c serves
# Remote read's protobuf messages, generated as the Makefile does.
mkdir -p "$out/gen"
protoc-c --proto_path=impl/src/remote/proto --c_out="$out/gen" impl/src/remote/proto/*.proto
lib_src="$lib_src $out/web_ui_assets.c $(ls "$out"/gen/*.pb-c.c)"
status=0
for h in impl/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c); short=${name#fuzz_}
  echo "== $name"
  clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iimpl/src -I"$out/gen" \
    $(pkg-config --cflags $PKGS) "$h" $lib_src $(pkg-config --libs $PKGS) -lsnappy -lpthread -lm -o "$out/$name"
  corpus=$out/corpus-$short; mkdir -p "$corpus"
  seeds=(); [ -d "impl/tests/data/$short" ] && seeds=("impl/tests/data/$short")
  (cd "$out" && ./"$name" -max_total_time="$SECS" -print_final_stats=1 "corpus-$short" "${seeds[@]/#/../../}" \
     2>&1 | tail -15) || status=1
done
exit $status
