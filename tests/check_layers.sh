#!/usr/bin/env bash
# The layers of host/, enforced: each folder may include only its own headers and those of the
# folders below it (docs/architecture.md, "Layers"). Fails naming every include that climbs, any
# host/ folder missing from the order, and any HTTP handler that takes the whole host.
# Usage: check_layers.sh <source dir>
set -uo pipefail
order=(core config client queue mapping plugins processing port http app)
declare -A rank
for i in "${!order[@]}"; do rank[${order[$i]}]=$i; done
cd "$1/host" || exit 2
bad=0
for d in */; do
  d=${d%/}
  if [ -z "${rank[$d]+x}" ]; then
    echo "host/$d is not in the layer order of tests/check_layers.sh (and docs/architecture.md)"
    bad=1
  fi
done
checked=0
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  text=${rest#*:}
  from=${file%%/*}
  [ "$from" = main.cpp ] && from=app
  to=$(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' <<<"$text")
  [ -n "$to" ] && [ -n "${rank[$to]+x}" ] || continue
  checked=$((checked + 1))
  if (( rank[$to] > rank[$from] )); then
    echo "host/$file:$line climbs from $from to $to: $text"
    bad=1
  fi
done < <(grep -rn --include='*.hpp' --include='*.cpp' '^#include "' . | sed 's|^\./||')
if grep -n 'Host&' http/*.hpp http/*.cpp; then
  echo "an HTTP handler takes the whole host: give it its deps struct (http/http_deps.hpp)"
  bad=1
fi
# One door to the plugins: only plugins/ builds or reads the ABI's structs.
if grep -n 'ocean_[a-z_]*\b\|ocean/plugin_abi.h' processing/*.hpp processing/*.cpp; then
  echo "processing/ touches the plugin ABI: go through plugins/ProcessorInstance"
  bad=1
fi
if [ "$checked" -lt 100 ]; then
  echo "only $checked includes checked: the scan is broken"
  bad=1
fi
[ "$bad" = 0 ] && echo "layers ok: $checked includes of host headers checked, none climbs"
exit $bad
