import { defineConfig } from 'vitest/config';

// Kernel tests (test/kernel/**) need root and the built BPF object; they share the host's
// kernel state (bpffs pins, namespaces), so files run one at a time; the global set-up mounts
// bpffs where the machine has none.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/kernel-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
