#!/usr/bin/env bash
# `cmake --install` lays out the tree config/oceand.service expects, and the installed oceand accepts
# the installed configuration and plugins as the unit runs them (--check, from /opt-style paths).
# usage: install_layout.sh <build dir>
set -euo pipefail
build="$1"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
fail=0
for f in bin/oceand plugins/github.so plugins/jira.so plugins/example.so config/oceand.yaml \
         config/oceand.service config/github/port-app-config.yaml config/github/blueprints.json \
         config/jira/port-app-config.yaml config/jira/blueprints.json \
         config/grafana/oceand-dashboard.json include/ocean/plugin_abi.h include/ocean/sdk.hpp \
         include/ocean/host.hpp include/ocean/http.hpp include/ocean/crypto.hpp \
         include/ocean/json.hpp include/ocean/processor.hpp include/ocean/testing.hpp \
         share/oceand/ocean_plugin.map; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f is not installed"; fail=1; }
done
# Plugins and their directory are writable by their owner only (plugins.strict_modes).
for f in "$prefix/plugins" "$prefix"/plugins/*.so; do
  mode=$(stat -c %a "$f")
  (( (8#$mode & 8#022) == 0 )) || { echo "FAIL: $f is mode $mode (group/other-writable)"; fail=1; }
done
[ -x "$prefix/bin/oceand" ] || { echo "FAIL: bin/oceand is not executable"; fail=1; }
# The installed binary on the installed configuration, with the unit's environment (state elsewhere).
state=$(mktemp -d)
trap 'rm -rf "$prefix" "$state"' EXIT
out=$(cd "$prefix" && OCEAN__PLUGINS__DIR="$prefix/plugins" OCEAN__QUEUE__PATH="$state/queue.db" \
  OCEAN__PORT__LOCAL_DB="$state/entities.db" OCEAN__PLUGINS__CACHE_DIR="$state/plugin-cache" \
  "$prefix/bin/oceand" --config "$prefix/config/oceand.yaml" --check 2>&1) || {
  echo "FAIL: the installed oceand --check refused the installed tree:"; echo "$out"; fail=1; }
grep -q "check ok" <<<"$out" || { echo "FAIL: no 'check ok':"; echo "$out"; fail=1; }
[ -z "$(ls -A "$state")" ] || { echo "FAIL: --check wrote to the state directory"; fail=1; }
[ "$fail" -eq 0 ] && echo "install: the tree is complete and the installed oceand accepts it"
exit "$fail"
