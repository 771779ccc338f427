// Test support: the segc command run straight from the TypeScript sources (no build), for
// kernel tests that need a real process: `node test/support/segc-source.ts deploy ...`.
import { main } from '../../runtime/cli/main.ts';

await main();
