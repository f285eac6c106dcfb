#!/usr/bin/env bash
# build-test-image.sh [--print-path] — the Debian 12 "generic" cloud image the real-VM tests boot.
#
# Vendor mirrors are unreachable from CI, so we build an image that behaves like Debian's
# official debian-12-generic-amd64.qcow2 from Debian packages: GPT disk, FAT32 ESP with a
# standalone GRUB at the removable-media path (UEFI, no NVRAM entry), ext4 root last so
# growpart can grow it, linux-image-cloud-amd64, cloud-init (NoCloud), netplan +
# systemd-networkd, sshd. No loop devices and no mounts of image files: mmdebstrap builds a
# directory, mkfs.ext4 -d / mkfs.vfat + mtools make the filesystems as files, sfdisk + dd
# assemble the disk, qemu-img convert -c compresses it.
#
# Output (stdout, the only line printed there):
#   ${CUBIC_TEST_CACHE:-/var/cache/cubic-test}/debian-12-<sha256(this script)[:16]>/
#     debian-12-generic-amd64.qcow2
# An existing image is reused; editing this script changes the directory, so it rebuilds.
#   --print-path        print that path and exit, building nothing
# Needs root (mmdebstrap's root mode); re-runs itself with `sudo -n` when that works. Installs
# missing build tools through scripts/setup.sh --test --apt-only. Takes ~90 s on 2 cores.
# Env: DEBIAN_MIRROR (http://deb.debian.org/debian),
#      DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security), KEEP_WORK=1 (debugging).
set -euo pipefail
umask 022

self=$(readlink -f -- "${BASH_SOURCE[0]}")
repo=$(cd -- "$(dirname -- "$self")/.." && pwd)
hash=$(sha256sum "$self" | cut -c1-16)
cache_root=${CUBIC_TEST_CACHE:-/var/cache/cubic-test}
out_dir="$cache_root/debian-12-$hash"
image_name=debian-12-generic-amd64
image="$out_dir/$image_name.qcow2"

print_only=0
for arg in "$@"; do
  case $arg in
    --print-path) print_only=1 ;;
    -h | --help)
      sed -n '2,22s/^# \{0,1\}//p' "$self"
      exit 0
      ;;
    *)
      echo "build-test-image.sh: unknown option '$arg' (expected --print-path)" >&2
      exit 2
      ;;
  esac
done

if ((print_only)) || [[ -f $image ]]; then
  printf '%s\n' "$image"
  exit 0
fi

if ((EUID != 0)); then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n env "CUBIC_TEST_CACHE=$cache_root" \
      "DEBIAN_MIRROR=${DEBIAN_MIRROR:-}" "DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-}" \
      "KEEP_WORK=${KEEP_WORK:-0}" "$self" "$@"
  fi
  echo "build-test-image.sh: building the test image needs root (mmdebstrap, file ownership);" \
    "run: sudo $self" >&2
  exit 1
fi

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
esp_mib=127
disk_size=2G

t0=$(date +%s)
log() { printf '[build-test-image %4ss] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }
run() {
  log "+ $*"
  "$@"
}

mkdir -p "$out_dir"
# Parallel test processes may all ask for the image: one builds, the others wait and reuse it.
exec 9>"$out_dir/.lock"
if ! flock -n 9; then
  log "another build of $image is running; waiting for it"
  flock 9
fi
if [[ -f $image ]]; then
  printf '%s\n' "$image"
  exit 0
fi

# Holding the lock, any .build.* left here is from a build that was killed: reclaim its space.
for stale in "$out_dir"/.build.*; do
  if [[ -d $stale ]]; then rm -rf --one-file-system "$stale" || log "could not remove $stale"; fi
done

"$repo/scripts/setup.sh" --test --apt-only
for tool in mmdebstrap mkfs.ext4 mkfs.vfat mmd mcopy sfdisk grub-mkstandalone qemu-img; do
  command -v "$tool" >/dev/null || {
    echo "build-test-image.sh: '$tool' is still missing after scripts/setup.sh --test" >&2
    exit 1
  }
done

# Same filesystem as the final path, so publishing is one atomic rename.
work=$(mktemp -d "$out_dir/.build.XXXXXX")
chmod 755 "$work" # apt inside mmdebstrap downloads as _apt, which must reach the rootfs
cleanup() {
  if [[ ${KEEP_WORK:-0} == 1 ]]; then
    log "keeping $work"
  else
    # --one-file-system: never follow a mount mmdebstrap might have left behind into the host.
    rm -rf --one-file-system "$work" || log "could not remove $work entirely"
  fi
}
trap cleanup EXIT

build() {
  local rootfs="$work/rootfs"
  local root_uuid esp_volid esp_uuid
  root_uuid=$(cat /proc/sys/kernel/random/uuid)
  esp_volid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n' | tr a-f A-F)
  esp_uuid="${esp_volid:0:4}-${esp_volid:4:4}" # how blkid (and so fstab) spells a vfat id
  log "building $image (root UUID $root_uuid, ESP $esp_uuid)"

  local packages=(
    linux-image-cloud-amd64          # virtio drivers; pulls initramfs-tools
    systemd-sysv udev dbus           # dbus: hostnamectl, which cloud-init uses
    systemd-resolved                 # a separate package since bookworm
    cloud-init netplan.io iproute2   # NoCloud seed -> netplan -> systemd-networkd DHCP
    openssh-server sudo
    cloud-guest-utils fdisk e2fsprogs # growpart (uses sfdisk) + resize2fs grow the root
    ca-certificates
    zstd # initramfs-tools' default compressor
  )

  # Runs on the host after all packages are in, with $1 = rootfs.
  cat >"$work/customize.sh" <<EOF
#!/bin/sh
set -eu
R="\$1"
cat >"\$R/etc/fstab" <<FSTAB
# <fs>  <mountpoint>  <type>  <options>  <dump>  <pass>
UUID=$root_uuid  /          ext4  rw,discard,errors=remount-ro  0  1
UUID=$esp_uuid   /boot/efi  vfat  umask=0077,nofail             0  2
FSTAB
mkdir -p "\$R/boot/efi"
echo localhost >"\$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"\$R/etc/hosts"
# mmdebstrap copies the build host's resolv.conf; the image must use systemd-resolved.
rm -f "\$R/etc/resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "\$R/etc/resolv.conf"
# Per-instance identity is created at first boot, never baked into the image.
rm -f "\$R"/etc/ssh/ssh_host_*
: >"\$R/etc/machine-id"
rm -f "\$R/var/lib/dbus/machine-id"
rm -rf "\$R/var/lib/cloud"/*
# Without a system locale cloud-init's locale module runs update-locale, which fails, and
# "cloud-init status --wait" then exits 1.
echo 'LANG=C.UTF-8' >"\$R/etc/default/locale"
rm -f "\$R/etc/apt/apt.conf.d/99mmdebstrap"
EOF
  chmod +x "$work/customize.sh"

  local t_deb=$SECONDS
  run mmdebstrap \
    --variant=minbase \
    --components=main \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --include="$(
      IFS=,
      echo "${packages[*]}"
    )" \
    --customize-hook="$work/customize.sh \"\$1\"" \
    "$suite" "$rootfs" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security_mirror $suite-security main"
  local mmdebstrap_s=$((SECONDS - t_deb))
  log "mmdebstrap took ${mmdebstrap_s}s"

  local kver
  kver=$(basename "$(readlink -f "$rootfs/vmlinuz")" | sed 's/^vmlinuz-//')
  if [[ ! -f $rootfs/boot/vmlinuz-$kver || ! -f $rootfs/boot/initrd.img-$kver ]]; then
    echo "build-test-image.sh: kernel or initrd missing in the rootfs" >&2
    ls -la "$rootfs" "$rootfs/boot" >&2
    return 1
  fi
  log "kernel $kver; rootfs $(du -sh "$rootfs" | cut -f1)"

  # /vmlinuz and /initrd.img are symlinks the kernel postinst maintains, so kernel upgrades
  # inside a VM keep booting without update-grub.
  cat >"$work/grub.cfg" <<EOF
insmod serial
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
insmod all_video
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry 'Debian GNU/Linux (cloud image)' {
  linux /vmlinuz root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8
  initrd /initrd.img
}
EOF
  run grub-mkstandalone -O x86_64-efi -o "$work/BOOTX64.EFI" \
    --locales= --fonts= --themes= \
    --modules="part_gpt ext2 fat search search_fs_uuid linux normal serial terminal echo gzio" \
    "boot/grub/grub.cfg=$work/grub.cfg"

  local sector=512 disk_bytes esp_start=2048 esp_sectors root_start root_sectors
  disk_bytes=$(numfmt --from=iec "$disk_size")
  esp_sectors=$((esp_mib * 2048))
  root_start=$((esp_start + esp_sectors))
  root_sectors=$((disk_bytes / sector - root_start - 2048)) # 1 MiB left for the backup GPT

  truncate -s $((esp_sectors * sector)) "$work/esp.img"
  run mkfs.vfat -F 32 -n UEFI -i "$esp_volid" "$work/esp.img"
  run mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
  run mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

  truncate -s $((root_sectors * sector)) "$work/root.img"
  run mkfs.ext4 -q -F -L debian-root -U "$root_uuid" -d "$rootfs" "$work/root.img"

  local raw="$work/disk.raw"
  truncate -s "$disk_bytes" "$raw"
  # ESP first and root last, like Debian's images, so growpart can extend root into new space.
  run sfdisk -q "$raw" <<EOF
label: gpt
unit: sectors
first-lba: 2048
start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"
start=$root_start, size=$root_sectors, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
EOF
  run dd if="$work/esp.img" of="$raw" bs=$sector seek=$esp_start conv=notrunc,sparse status=none
  run dd if="$work/root.img" of="$raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse \
    status=none
  rm -f "$work/esp.img" "$work/root.img"

  local t_qcow=$SECONDS
  run qemu-img convert -c -O qcow2 "$raw" "$work/$image_name.qcow2"
  log "compression took $((SECONDS - t_qcow))s"

  {
    echo "image=$image"
    echo "kernel=$kver"
    echo "cloud_init=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${Version}' cloud-init)"
    echo "root_uuid=$root_uuid"
    echo "esp_uuid=$esp_uuid"
    echo "qcow2_bytes=$(stat -c %s "$work/$image_name.qcow2")"
    echo "mmdebstrap_s=$mmdebstrap_s"
    echo "compression_s=$((SECONDS - t_qcow))"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$out_dir/$image_name.build-info.txt"
  chmod 0644 "$work/$image_name.qcow2"
  # Published last and atomically: the final name only ever holds a complete image.
  mv -T "$work/$image_name.qcow2" "$image"
}

build >&2
log "done in $(($(date +%s) - t0))s: $image ($(du -h "$image" | cut -f1))"
for stale in "$cache_root"/debian-12-*; do
  if [[ $stale != "$out_dir" && -d $stale ]]; then
    log "note: $stale is from an older version of this script; delete it to free space"
  fi
done
printf '%s\n' "$image"
