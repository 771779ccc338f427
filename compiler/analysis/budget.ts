// Rule analysis, the time (and memory) budget: the passes call `spend` once per unit of work (a
// box subtraction); the clock and the memory probe are read only every so often, so the check
// stays off the profile.

export interface Budget {
  /** Counts one unit of work; true once the budget is exhausted (and from then on). */
  spend(): boolean;
  /** True once exhausted. */
  readonly exhausted: boolean;
  /** Units spent so far (reported in the stats). */
  readonly spent: number;
  /** What ran out: the time, or the memory (undefined while neither has). */
  readonly cause: 'time' | 'memory' | undefined;
}

/**
 * A memory ceiling: `used()` is the host's measure of memory in use, in bytes (the compiler
 * reads no process state), and the budget is exhausted once it passes `ceiling`.
 */
export interface MemoryCeiling {
  readonly used: () => number;
  readonly ceiling: number;
}

/** How often (in units) the clock is read. */
const CLOCK_EVERY = 256;
/**
 * How often (in checks) the memory probe is read. The host's probe is a system call (the
 * resident set, 20-30 µs): read at every check, as `exhausted` is once or twice per rule, it
 * was 250-550 ms of a 10k-rule `segc check` (--cpu-prof).
 */
const MEMORY_EVERY = 32;

/** A budget of `ms` milliseconds from now on `now` (a clock in milliseconds), and of `memory` when given. */
export function createBudget(ms: number, now: () => number, memory?: MemoryCeiling): Budget {
  const deadline = now() + ms;
  let spent = 0;
  let cause: 'time' | 'memory' | undefined = ms > 0 ? undefined : 'time';
  let checks = 0;
  const check = () => {
    if (cause !== undefined) return;
    if (now() > deadline) cause = 'time';
    else if (memory !== undefined && checks++ % MEMORY_EVERY === 0 && memory.used() > memory.ceiling) cause = 'memory';
  };
  return {
    spend() {
      spent++;
      if (spent % CLOCK_EVERY === 0) check();
      return cause !== undefined;
    },
    get exhausted() {
      check();
      return cause !== undefined;
    },
    get spent() {
      return spent;
    },
    get cause() {
      return cause;
    },
  };
}
