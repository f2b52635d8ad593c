import type { Backbone, StoredMessage } from '@protomesh/backbone';

/** Messages read from the stream per request while recovering. */
export const RECOVERY_PAGE = 256;

interface Cursor {
  readonly subject: string;
  next: number;
  page: StoredMessage[];
  at: number;
  done: boolean;
}

/**
 * The stored messages of `subjects` (the class-1 subjects of one filter, at most a few) with
 * sequence in [`fromSeq`, `toSeq`], merged into stream order, read a page at a time so a long
 * history never sits in memory at once.
 */
export async function* readHistory(
  backbone: Backbone,
  stream: string,
  subjects: readonly string[],
  fromSeq: number,
  toSeq: number,
  page: number = RECOVERY_PAGE,
): AsyncGenerator<StoredMessage> {
  const read = backbone.readStream?.bind(backbone);
  if (read === undefined || fromSeq > toSeq) return;
  const cursors: Cursor[] = subjects.map((subject) => ({ subject, next: fromSeq, page: [], at: 0, done: false }));
  for (;;) {
    // Every cursor that may hold more needs a message in hand before the smallest can be chosen.
    for (const cursor of cursors) {
      if (cursor.done || cursor.at < cursor.page.length) continue;
      const messages = await read(stream, { filter: cursor.subject, fromSeq: cursor.next, maxMessages: page });
      cursor.page = messages.filter((message) => message.seq <= toSeq);
      cursor.at = 0;
      const last = messages[messages.length - 1];
      if (last === undefined || messages.length < page || last.seq >= toSeq) cursor.done = true;
      else cursor.next = last.seq + 1;
    }
    let best: Cursor | undefined;
    for (const cursor of cursors) {
      if (cursor.at >= cursor.page.length) continue;
      if (best === undefined || cursor.page[cursor.at]!.seq < best.page[best.at]!.seq) best = cursor;
    }
    if (best === undefined) return;
    yield best.page[best.at++]!;
  }
}
