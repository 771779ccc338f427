// Vitest global set-up: what the kernel tests need from the host before any of them runs. On a
// fresh machine bpffs is not mounted at /sys/fs/bpf (systemd mounts it on most distributions,
// containers and minimal images do not); `segc deploy` mounts it itself, but tests that pin
// through the bindings directly must not depend on a deploy having run first.
import { ensureBpffs } from '../../runtime/bpffs.ts';

export function setup(): void {
  if (process.getuid?.() !== 0) return;
  if (ensureBpffs()) process.stdout.write('kernel tests: mounted bpffs at /sys/fs/bpf\n');
}
