/**
 * Ascending stream sequences with the oldest removed in O(1): a stream drops messages from
 * its head (limits, max age) far more often than from the middle (purge, last-value), and
 * `Array.prototype.splice(0, 1)` moves every element (about 0.5 ms per removal at a million).
 * The removed head is skipped by an offset and compacted away once it is half the array.
 */
export class SeqList {
  #items: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The `i`-th sequence (0 = oldest). */
  at(i: number): number | undefined {
    return this.#items[this.#head + i];
  }

  get first(): number | undefined {
    return this.#items[this.#head];
  }

  get last(): number | undefined {
    return this.length === 0 ? undefined : this.#items[this.#items.length - 1];
  }

  /** Appends `seq`, larger than every sequence in the list. */
  push(seq: number): void {
    this.#items.push(seq);
  }

  /** Index of the first sequence >= `seq` (`length` when none). */
  lowerBound(seq: number): number {
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#items[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#head;
  }

  /** Removes `seq` if present. */
  remove(seq: number): void {
    if (this.#items[this.#head] === seq) {
      this.#head++;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return;
    }
    const i = this.#head + this.lowerBound(seq);
    if (this.#items[i] === seq) this.#items.splice(i, 1);
  }

  /** The sequences, oldest first (a copy). */
  toArray(): number[] {
    return this.#items.slice(this.#head);
  }
}
