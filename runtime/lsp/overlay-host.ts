// The compiler host of the language server: readFile prefers the open documents' text (unsaved
// text wins over the disk), then reads the disk, bounded; includes resolve as `segc check` does.
import { readFileSync, statSync } from 'node:fs';
import { resolvePosixInclude, tooLarge, type CompilerHost } from '../../compiler/source.ts';
import { readRegularFile } from '../cli/io.ts';

/** Files on disk above this size are treated as unreadable (an include of a device or a dump). */
export const MAX_DISK_FILE_BYTES = 32 * 1024 * 1024;

export function createOverlayHost(overlay: ReadonlyMap<string, string>): CompilerHost {
  return {
    readFile(path) {
      const open = overlay.get(path);
      if (open !== undefined) return open;
      try {
        const s = statSync(path);
        if (!s.isFile() || s.size > MAX_DISK_FILE_BYTES) return undefined;
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    // What the compiler reads through: the open document, else the disk read with care
    // (regular files only, opened non-blocking, bounded), as `segc check` reads it.
    readSource(path, maxBytes) {
      const open = overlay.get(path);
      if (open !== undefined) return open.length > maxBytes ? tooLarge(open.length, maxBytes) : { kind: 'text', text: open };
      return readRegularFile(path, Math.min(maxBytes, MAX_DISK_FILE_BYTES));
    },
    resolveInclude: resolvePosixInclude,
  };
}
