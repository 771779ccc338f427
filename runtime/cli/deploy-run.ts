// Running a runtime deploy, rollback, undeploy or confirm from a command: its typed failures
// become the CLI's (exit 1 for a refused policy, 2 for the environment), with the verifier's
// verdict when it rejected the classifier. Shared by deploy, rollback, undeploy and confirm.
import { CliError } from './command.ts';
import type { CliIo } from './io.ts';

/** SEGC_LOCK_TIMEOUT_MS: how long to wait for another segc holding the deploy lock (default 10 s). */
export function lockTimeoutOf(io: CliIo): number | undefined {
  const text = io.env['SEGC_LOCK_TIMEOUT_MS'];
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * Runs a runtime deploy, turning its typed failures into the CLI's: a refused policy prints
 * and returns undefined (exit 1); the environment's problems become a CliError (exit 2).
 */
export async function runDeploy<T>(io: CliIo, action: () => T): Promise<T | undefined> {
  const { DeployError } = await import('../deploy.ts');
  const { BpfError } = await import('../errors.ts');
  try {
    return action();
  } catch (error) {
    if (error instanceof DeployError) {
      if (error.log !== undefined) io.stderr.write(formatVerifierLog(error.log));
      if (error.exitCode === 1) {
        io.stderr.write(`error: ${error.message}\n${error.hint === undefined ? '' : `hint: ${error.hint}\n`}`);
        return undefined;
      }
      throw new CliError('environment', error.message, error.hint);
    }
    if (error instanceof BpfError && (error.errno === 1 || error.errno === 13)) {
      throw new CliError('environment', `${error.message}; the previous policy stays in force`, 'run as root (sudo); `segc doctor` checks the host');
    }
    throw error;
  }
}

/**
 * The end of a verifier log, where the reason for a rejection is; the kernel's logs run to
 * thousands of lines of instruction trace before it.
 */
export function formatVerifierLog(log: string, lines = 40): string {
  const all = log.trimEnd().split('\n');
  const tail = all.slice(-lines);
  const skipped = all.length - tail.length;
  return `verifier log${skipped > 0 ? ` (last ${tail.length} of ${all.length} lines)` : ''}:\n${tail.map((l) => `  | ${l}`).join('\n')}\n`;
}

