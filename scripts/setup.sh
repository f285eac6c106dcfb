#!/usr/bin/env bash
# setup.sh [--test] [--apt-only] — prepares a Debian 12 (or Ubuntu) machine to run Cubic.
#
# Installs only the missing Debian packages: QEMU, qemu-img and OVMF; with --test also the
# tools that build and boot the test image (scripts/build-test-image.sh) and the SSH/ISO tools
# the real-VM tests use. Then it makes sure a pinned Deno exists (scripts/ensure-deno.sh) and
# caches Cubic's npm dependencies from deno.lock. Safe to re-run.
#   --apt-only  stop after the packages (build-test-image.sh needs no Deno)
# Not root and something is missing: prints the exact `sudo apt-get install` line, exits 1.
set -euo pipefail

repo=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)
log() { printf 'setup.sh: %s\n' "$*" >&2; }

with_test=0
apt_only=0
for arg in "$@"; do
  case $arg in
    --test) with_test=1 ;;
    --apt-only) apt_only=1 ;;
    -h | --help)
      sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      log "unknown option '$arg' (expected --test, --apt-only)"
      exit 2
      ;;
  esac
done

packages=(qemu-system-x86 qemu-utils ovmf)
if ((with_test)); then
  packages+=(
    mmdebstrap e2fsprogs dosfstools mtools fdisk grub-efi-amd64-bin debian-archive-keyring
    xorriso genisoimage openssh-server openssh-client iproute2 ca-certificates gnupg procps
  )
fi
# Without any Deno 2 and without npm, ensure-deno.sh has nothing to install Deno with; Debian's
# npm package provides it (and needs the CA bundle to reach the registry over TLS).
# ensure-deno.sh fails fast in that case instead of downloading anything.
if ((!apt_only)) && ! command -v npm >/dev/null &&
  ! "$repo/scripts/ensure-deno.sh" >/dev/null 2>&1; then
  packages+=(npm ca-certificates)
fi

# A package counts as present only when dpkg says "installed" (not "config-files" or half-set-up).
is_installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

if ! command -v dpkg-query >/dev/null; then
  # Not a Debian system: we cannot install for the user, but can say which commands are missing.
  missing_cmds=()
  for cmd in qemu-system-x86_64 qemu-img; do
    command -v "$cmd" >/dev/null || missing_cmds+=("$cmd")
  done
  if ((${#missing_cmds[@]})); then
    log "missing commands: ${missing_cmds[*]}; install them with your package manager" \
      "(Debian names: ${packages[*]})"
    exit 1
  fi
  log "no dpkg on this machine: assuming the non-QEMU tools are present"
else
  missing=()
  for pkg in "${packages[@]}"; do
    [[ " ${missing[*]} " == *" $pkg "* ]] && continue # listed twice (ca-certificates)
    is_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    if ((EUID != 0)); then
      log "missing Debian packages: ${missing[*]}"
      log "run this, then run scripts/setup.sh again:"
      printf '  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
        "${missing[*]}" >&2
      exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Recommends would drag in QEMU's GTK/SDL front ends and hundreds of MB nobody here uses.
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  else
    log "Debian packages present: ${packages[*]}"
  fi
fi

if ((apt_only)); then exit 0; fi

deno=$("$repo/scripts/ensure-deno.sh")
log "deno: $deno ($("$deno" --version | sed -n '1p'))"
# Fills Deno's cache with the npm packages pinned in deno.lock, so later runs work offline.
(cd "$repo" && "$deno" install --frozen >&2)

if [[ -e /dev/kvm && ! -w /dev/kvm ]]; then
  log "note: /dev/kvm is not writable by $(id -un); add yourself to its group" \
    "($(stat -c %G /dev/kvm)) or Cubic falls back to slow TCG emulation"
fi
log "ready; run Cubic with scripts/cubic"
