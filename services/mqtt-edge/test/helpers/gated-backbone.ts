import type { AppendOptions, AppendResult, Backbone } from '@protomesh/backbone';

/** A backbone whose `append` waits until the test releases (or fails) it. */
export interface GatedBackbone {
  readonly backbone: Backbone;
  /** Appends waiting for a decision, oldest first. */
  readonly waiting: ReadonlyArray<{ readonly subject: string }>;
  /** Lets the oldest waiting append reach the real backbone. */
  release(index?: number): void;
  /** Fails a waiting append with `error`. */
  fail(error: Error, index?: number): void;
}

interface Gate {
  readonly subject: string;
  go(): void;
  reject(error: Error): void;
}

/** Wraps `inner` so that every `append` is held until `release` or `fail`. */
export function gateAppends(inner: Backbone): GatedBackbone {
  const gates: Gate[] = [];
  const append = (subject: string, payload: Uint8Array, options?: AppendOptions): Promise<AppendResult> =>
    new Promise((resolve, reject) => {
      gates.push({ subject, go: () => inner.append(subject, payload, options).then(resolve, reject), reject });
    });
  const backbone = new Proxy(inner, {
    get(target, property) {
      if (property === 'append') return append;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    backbone,
    waiting: gates,
    release(index = 0) {
      const [gate] = gates.splice(index, 1);
      gate!.go();
    },
    fail(error, index = 0) {
      const [gate] = gates.splice(index, 1);
      gate!.reject(error);
    },
  };
}
