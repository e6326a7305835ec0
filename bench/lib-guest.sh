# Shared by the guest benchmarks: the kit's kernel and initramfs, the uncompressed vmlinux QEMU
# boots through PVH, and a line describing the host.
KIT=$(./jvisor kit 2>/dev/null)
VMLINUX=$(echo "$KIT" | sed -n 's/^vmlinux: //p')   # the uncompressed kernel both boot (QEMU through PVH)
INITRD=$(echo "$KIT" | sed -n 's/^initramfs: //p')
READY="jvisor-guest: ready"
host_line() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(qemu-system-x86_64 --version | head -1)"; }
# jvisor's VMMs start from the JVM's AOT cache (scripts/env.sh): make it first, by a boot that is
# not measured, so that no measured run is the one that records it.
if [ -n "${jvisor_aot:-}" ] && [ "${JVISOR_AOT:-on}" != off ] && ! { [ -f "$jvisor_aot" ] && [ "$jvisor_aot" -nt "$jvisor_jar" ]; }; then
  echo "bench: one unmeasured boot to make the JVM's AOT cache" >&2
  printf 'poweroff -f\n' | ./jvisor run --memory 256M >/dev/null 2>&1 || true
  ./jvisor --version >/dev/null
fi
