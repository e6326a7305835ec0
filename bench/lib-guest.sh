# Shared by the guest benchmarks: the kit's kernel and initramfs, the uncompressed vmlinux QEMU
# boots through PVH, and a line describing the host.
KIT=$(./jvisor kit 2>/dev/null)
KERNEL=$(echo "$KIT" | sed -n 's/^kernel: //p')
INITRD=$(echo "$KIT" | sed -n 's/^initramfs: //p')
VMLINUX="$(dirname "$INITRD")/vmlinux-$(basename "$KERNEL" | sed 's/^vmlinuz-//')"
if [ ! -f "$VMLINUX" ]; then
  python3 - "$KERNEL" "$VMLINUX" <<'PY'
import lzma, struct, sys
k = open(sys.argv[1], "rb").read()
setup = k[0x1f1] or 4
off, ln = struct.unpack("<II", k[0x248:0x250])
start = (setup + 1) * 512 + off
open(sys.argv[2], "wb").write(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(k[start:start + ln - 4]))
PY
fi
READY="jvisor-guest: ready"
host_line() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(qemu-system-x86_64 --version | head -1)"; }
