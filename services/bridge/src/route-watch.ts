/**
 * Watches `BRIDGE_ROUTES` and hands every changed, valid route set to the bridge. A
 * Kubernetes ConfigMap volume updates by writing a new timestamped directory and swapping
 * the `..data` symlink to it in one rename, so the watch is on the directory (the file's
 * own directory for a file path), not on the file, and every change is judged by content.
 * `fs.watch` can miss events on some file systems, so a slow poll backs it up.
 */
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type LoadedRoutes, loadRoutes } from './route-file.js';

/** Quiet time after the last file event before reloading, in ms (a ConfigMap swap is several events). */
export const RELOAD_DEBOUNCE_MS = 100;
/** Poll interval backing up `fs.watch`, in ms. */
export const RELOAD_POLL_MS = 5_000;

/** What the watcher reports. */
export interface RouteWatchEvents {
  /** A changed route set was read; reject (throw) to keep the current one. */
  change(loaded: LoadedRoutes): Promise<void>;
  /** Reading or applying a change failed; the current route set stays. */
  error(error: unknown): void;
}

/** Watches a routes file or directory. */
export class RouteWatcher {
  readonly #path: string;
  readonly #events: RouteWatchEvents;
  readonly #pollMs: number;
  #text: string;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #again = false;
  #busy = false;
  #closed = false;
  /** The last failure reported, so a file that stays broken is reported once. */
  #lastError: string | undefined;

  /** `text` is the content of the route set already in force (`LoadedRoutes.text`). */
  constructor(path: string, text: string, events: RouteWatchEvents, pollMs = RELOAD_POLL_MS) {
    this.#path = path;
    this.#text = text;
    this.#events = events;
    this.#pollMs = pollMs;
  }

  /** Starts watching. */
  async start(): Promise<void> {
    const info = await stat(this.#path);
    const dir = info.isDirectory() ? this.#path : dirname(this.#path);
    this.#watcher = watch(dir, { persistent: false }, () => this.#schedule());
    this.#watcher.on('error', () => undefined);
    this.#poll = setInterval(() => this.#schedule(), this.#pollMs);
    this.#poll.unref();
  }

  /** Reads the routes now and applies them when they changed; resolves when done. */
  check(): Promise<void> {
    if (this.#busy) {
      this.#again = true;
      return this.#running;
    }
    this.#busy = true;
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          const loaded = await loadRoutes(this.#path);
          if (loaded.text === this.#text) {
            this.#lastError = undefined;
            continue;
          }
          await this.#events.change(loaded);
          this.#text = loaded.text;
          this.#lastError = undefined;
        } catch (error) {
          const message = String((error as Error)?.message ?? error);
          if (message !== this.#lastError) this.#events.error(error);
          this.#lastError = message;
        }
      } while (this.#again && !this.#closed);
      this.#busy = false;
    })();
    return this.#running;
  }

  /** Stops watching; waits for a reload in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
    await this.#running;
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), RELOAD_DEBOUNCE_MS);
    this.#debounce.unref();
  }
}
