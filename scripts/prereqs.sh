#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing (CI runs as root).
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v objdump >/dev/null || need+=(binutils)
command -v iasl >/dev/null || need+=(acpica-tools)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v sfdisk >/dev/null || need+=(fdisk)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client) # parses jvisord's /metrics in its test
command -v mvn >/dev/null || need+=(maven)
command -v debootstrap >/dev/null || need+=(debootstrap)   # the Debian template the guest tests boot
command -v sfdisk >/dev/null || need+=(fdisk)
command -v fsck.vfat >/dev/null || need+=(dosfstools)      # checks the cloud-init seed volume
command -v mcopy >/dev/null || need+=(mtools)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "prereqs: please install: ${need[*]}" >&2; exit 2; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
