/**
 * Every timer of one embedded backbone: unref'd (a dev mesh never stays up for a timer
 * alone) and cleared together on close.
 */
export class Timers {
  readonly #active = new Set<NodeJS.Timeout>();

  /** Runs `fn` after `ms`; returns a handle for {@link clear}. */
  set(fn: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.#active.delete(timer);
        fn();
      },
      Math.max(0, ms),
    );
    timer.unref();
    this.#active.add(timer);
    return timer;
  }

  clear(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#active.delete(timer);
  }

  clearAll(): void {
    for (const timer of this.#active) clearTimeout(timer);
    this.#active.clear();
  }
}

/**
 * Runs a task once per turn of the event loop however often it is requested, never
 * synchronously inside the caller: publishers never re-enter subscribers. (Not unref'd: an
 * immediate runs on the next turn, and a script awaiting a delivery must not exit first.)
 */
export class Deferred {
  readonly #task: () => void;
  #scheduled: NodeJS.Immediate | undefined;

  constructor(task: () => void) {
    this.#task = task;
  }

  request(): void {
    if (this.#scheduled !== undefined) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      this.#task();
    });
  }

  get pending(): boolean {
    return this.#scheduled !== undefined;
  }

  cancel(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
  }
}
