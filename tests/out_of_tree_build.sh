#!/usr/bin/env bash
# Builds the example plugin out of tree, exactly as docs/plugin-authoring.md says, and checks that
# oceand loads it. Usage: out_of_tree_build.sh <source dir> <oceand binary>
set -euo pipefail
src="$1"
oceand="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
g++ -std=c++20 -O2 -shared -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -fno-gnu-unique \
    -Wl,--version-script="$src/sdk/ocean_plugin.map" \
    -I "$src/sdk/include" "$src/plugins/example/example_plugin.cpp" -lcrypto -o "$work/plugins/example.so"
printf 'plugins: {dir: %s, cache_dir: %s}\nserver: {host: 127.0.0.1, port: 0}\nadmin: {listen: ""}\nqueue: {backend: memory}\nport: {local_db: %s}\n' \
  "$work/plugins" "$work/cache" "$work/entities.db" > "$work/oceand.yaml"
# --check judges the file without running it; a start loads it.
out=$("$oceand" --check --config "$work/oceand.yaml" 2>&1)
echo "$out"
grep -q "plugin  ok       $work/plugins/example.so (checked without running it)" <<<"$out"
"$oceand" --config "$work/oceand.yaml" >"$work/oceand.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  grep -q "generation 1 active: 1 plugin(s)" "$work/oceand.log" && break
  sleep 0.1
done
kill "$pid"
wait "$pid" || true
cat "$work/oceand.log"
grep -q "generation 1 active: 1 plugin(s)" "$work/oceand.log"
if grep -q "refused" "$work/oceand.log"; then
  echo "oceand refused the out-of-tree plugin" >&2
  exit 1
fi
nm -D --defined-only "$work/plugins/example.so" | grep -q ' T ocean_plugin_entry$'
if nm -D --defined-only "$work/plugins/example.so" | grep ' T ' | grep -vq ' ocean_plugin_entry$'; then
  echo "the plugin exports more than ocean_plugin_entry" >&2
  exit 1
fi
if readelf -Ws "$work/plugins/example.so" | grep -q UNIQUE; then
  echo "the plugin has STB_GNU_UNIQUE symbols: it could never be unloaded" >&2
  exit 1
fi
# And its unit test, as docs/plugin-authoring.md ("Testing without oceand") shows: the SDK's fake
# host and the built plugin, nothing of oceand's.
cat > "$work/example_test.cpp" <<'CPP'
#include <ocean/testing.hpp>
#include <cstdio>
int main(int, char** argv) {
  ocean::testing::FakeHost host;
  host.load_library(argv[1]);
  auto out = host.run("ExampleProcessor", {.integration = "ex", .payload = R"({"id": 7})"},
                      R"({"kind":"example"})");
  bool ok = out.should_process == ocean::testing::Said::yes && out.status == OCEAN_STATUS_OK &&
            out.updated.size() == 1 && out.updated[0] == R"({"id":7})";
  std::printf("%s\n", ok ? "fake host: ok" : "fake host: wrong outcome");
  return ok ? 0 : 1;
}
CPP
g++ -std=c++20 -O1 -I "$src/sdk/include" "$work/example_test.cpp" -ldl -o "$work/example_test"
"$work/example_test" "$work/plugins/example.so"
echo "out-of-tree plugin build: ok"
