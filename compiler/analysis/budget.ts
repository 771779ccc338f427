// Rule analysis, the time budget: the passes call `spend` once per unit of work (a box
// subtraction); the clock is read only every so often, so the check stays off the profile.

export interface Budget {
  /** Counts one unit of work; true once the budget is exhausted (and from then on). */
  spend(): boolean;
  /** True once exhausted. */
  readonly exhausted: boolean;
  /** Units spent so far (reported in the stats). */
  readonly spent: number;
}

/** How often (in units) the clock is read. */
const CLOCK_EVERY = 256;

/** A budget of `ms` milliseconds from now on `now` (a clock in milliseconds). */
export function createBudget(ms: number, now: () => number): Budget {
  const deadline = now() + ms;
  let spent = 0;
  let exhausted = !(ms > 0);
  return {
    spend() {
      spent++;
      if (!exhausted && spent % CLOCK_EVERY === 0 && now() > deadline) exhausted = true;
      return exhausted;
    },
    get exhausted() {
      if (!exhausted && now() > deadline) exhausted = true;
      return exhausted;
    },
    get spent() {
      return spent;
    },
  };
}
