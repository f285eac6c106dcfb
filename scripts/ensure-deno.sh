#!/usr/bin/env bash
# ensure-deno.sh — prints the path of a usable Deno 2.x and nothing else on stdout.
#
# Uses `deno` from PATH when it is 2.x; otherwise the pinned npm build under <repo>/.deno/,
# installing it on first use (the npm registry is reachable where GitHub releases may not be).
# Callers write "$(scripts/ensure-deno.sh)"; all logs go to stderr.
set -euo pipefail

readonly DENO_VERSION=2.9.6
repo=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)
prefix="$repo/.deno"

version_of() { "$1" --version 2>/dev/null | sed -n '1p'; }

# $1 is a deno binary whose first --version line starts with $2.
is_deno() { [[ -x $1 && $(version_of "$1") == "$2"* ]]; }

# The npm package copies the native binary next to bin.cjs in its postinstall; the
# per-platform package holds the same binary even when install scripts were skipped. The
# .bin entry (possibly a node shim that does not forward signals) is the last resort.
find_pinned() {
  local candidate
  for candidate in "$prefix/node_modules/deno/deno" "$prefix"/node_modules/@deno/*/deno \
    "$prefix/node_modules/.bin/deno"; do
    if is_deno "$candidate" "deno $DENO_VERSION "; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

if on_path=$(command -v deno) && is_deno "$on_path" "deno 2."; then
  printf '%s\n' "$on_path"
  exit 0
fi
if find_pinned; then exit 0; fi

if ! command -v npm >/dev/null; then
  echo "ensure-deno.sh: no Deno 2.x on PATH and npm is missing to install deno@$DENO_VERSION;" \
    "run scripts/setup.sh as root, or install Deno 2 yourself" >&2
  exit 1
fi
if ! mkdir -p "$prefix" 2>/dev/null || ! [[ -w $prefix ]]; then
  echo "ensure-deno.sh: cannot write $prefix to install deno@$DENO_VERSION;" \
    "run scripts/setup.sh as the owner of $repo, or put Deno 2 on PATH" >&2
  exit 1
fi
# Two scripts starting at once (parallel test runs) must not run npm into the same prefix.
if command -v flock >/dev/null; then
  exec 9>"$prefix/.install.lock"
  flock 9
  if find_pinned; then exit 0; fi
fi
echo "ensure-deno.sh: installing deno@$DENO_VERSION from npm into $prefix" >&2
npm install --prefix "$prefix" "deno@$DENO_VERSION" --no-audit --no-fund >&2
if ! find_pinned; then
  echo "ensure-deno.sh: npm installed deno@$DENO_VERSION but no working binary was found" \
    "under $prefix/node_modules; remove $prefix and retry" >&2
  exit 1
fi
