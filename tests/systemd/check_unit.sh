#!/usr/bin/env bash
# Checks oceand's systemd unit: systemd-analyze's offline security score must be at most 3.0, and the
# settings oceand relies on must be there. Usage: check_unit.sh [path/to/oceand.service]
# Exit 0: all good; 1: a check failed; 2: usage; 77: skipped (no systemd-analyze with --offline).
set -uo pipefail

unit="${1:-$(dirname "$0")/../../config/oceand.service}"
max_exposure=30  # --threshold is in tenths of the displayed score: 30 = 3.0; fails only above it

if [[ ! -f "$unit" || "$unit" != *.service ]]; then
  echo "usage: $0 <unit file>.service (got: $unit)" >&2
  exit 2
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found"
  exit 77
fi
if ! systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
  echo "SKIP: this systemd-analyze has no --offline (systemd >= 250 needed)"
  exit 77
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }

# (a) The security score. The overall line is the last one of the report.
report=$(systemd-analyze security --offline=true --threshold="$max_exposure" "$unit" 2>&1)
status=$?
overall=$(grep -m1 'Overall exposure level' <<<"$report")
if [[ -z "$overall" ]]; then
  echo "$report"
  fail "systemd-analyze security printed no overall exposure level"
elif ((status != 0)); then
  grep '✗' <<<"$report"
  fail "$overall (above 3.0)"
else
  ok "$overall"
fi

# (b) The settings. Values with line continuations joined, comments dropped, one KEY=value a line.
settings=$(sed -e 's/^[[:space:]]*//' "$unit" | grep -v '^[#;]' | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
values() { grep "^$1[[:space:]]*=" <<<"$settings" | sed -e "s/^$1[[:space:]]*=[[:space:]]*//"; }
last() { values "$1" | tail -n1; }

[[ "$(last Type)" == notify ]] && ok "Type=notify" || fail "Type= is '$(last Type)', not notify"
reload=$(last ExecReload)
[[ " $reload " == *" --reload "* ]] && ok "ExecReload= runs oceand --reload" ||
  fail "ExecReload= is '$reload', not an oceand --reload"
state=$(last StateDirectory)
[[ -n "$state" ]] && ok "StateDirectory=$state" || fail "no StateDirectory="
[[ "$(last ProtectSystem)" == strict ]] && ok "ProtectSystem=strict" ||
  fail "ProtectSystem= is '$(last ProtectSystem)', not strict: the plugins would not be read-only"

# The plugins directory: OCEAN__PLUGINS__DIR from Environment=, else the installed layout's.
plugins=$(values Environment | tr ' ' '\n' | tr -d '"' | sed -n 's/^OCEAN__PLUGINS__DIR=//p' | tail -n1)
plugins="${plugins:-/opt/oceand/plugins}"
plugins="${plugins%/}"
writable=0
for path in $(values ReadWritePaths); do
  path="${path#-}"
  path="${path#+}"
  path="${path%/}"
  # The directory itself, a parent of it or a part of it must not be writable.
  if [[ -z "$path" || "$plugins" == "$path" || "$plugins" == "$path"/* || "$path" == "$plugins"/* ||
        "$path" == *plugins* ]]; then
    fail "ReadWritePaths= makes the plugins directory $plugins writable: $path"
    writable=1
  fi
done
for dir in $state; do
  if [[ "$plugins" == /var/lib/"$dir" || "$plugins" == /var/lib/"$dir"/* ]]; then
    fail "the plugins directory $plugins is inside the writable StateDirectory=$dir"
    writable=1
  fi
done
((writable)) || ok "the plugins directory $plugins is not writable by the service"

if ((failures)); then
  echo "$failures check(s) failed for $unit"
  exit 1
fi
echo "all checks passed for $unit"
