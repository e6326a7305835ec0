# Shared by the guest benchmarks: the kit's kernel and initramfs, the uncompressed vmlinux QEMU
# boots through PVH, and a line describing the host.
KIT=$(./jvisor kit 2>/dev/null)
VMLINUX=$(echo "$KIT" | sed -n 's/^vmlinux: //p')   # the uncompressed kernel both boot (QEMU through PVH)
INITRD=$(echo "$KIT" | sed -n 's/^initramfs: //p')
READY="jvisor-guest: ready"
host_line() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(qemu-system-x86_64 --version | head -1)"; }
