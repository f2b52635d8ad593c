/**
 * Topic filter containment, the basis of subscribe authorization: a client may subscribe to a
 * filter only when an allowed filter matches every topic the requested one can match.
 */

/**
 * True when filter `outer` covers filter `inner`: every topic name matched by `inner` is also
 * matched by `outer` (the semantics of `topicMatches` from `@protomesh/topic-map`). Examples:
 * `filterCovers('a/#', 'a/+/c')` and `filterCovers('a/#', 'a')` are true;
 * `filterCovers('a/+', 'a/#')` and `filterCovers('#', '$SYS/x')` are false, because a filter
 * whose first level is a wildcard never matches a topic starting with `$` [MQTT-4.7.2-1].
 * Both arguments are assumed to be valid topic filters (strip `$share/<group>/` first).
 */
export function filterCovers(outer: string, inner: string): boolean {
  const a = outer.split('/');
  const b = inner.split('/');
  // [MQTT-4.7.2-1]: `outer` starting with a wildcard matches no `$` topic, and every topic
  // matched by an `inner` whose first level is a literal `$…` starts with `$`.
  if ((a[0] === '+' || a[0] === '#') && b[0] !== '+' && b[0] !== '#' && b[0]!.startsWith('$')) return false;
  for (let i = 0; ; i++) {
    // '#' is the whole last level: it matches whatever `inner` has left, including nothing
    // (`a/#` matches `a`).
    if (a[i] === '#') return true;
    if (i === a.length) return i === b.length;
    // `inner` ends here but `outer` needs at least one more level.
    if (i === b.length) return false;
    const level = b[i]!;
    // '#' in `inner` matches any depth, including its parent; only a '#' in `outer` (handled
    // above) covers that, or `+/#` for a whole-filter `#`: there is no empty parent topic, so
    // both match every topic of one or more levels.
    if (level === '#') return i === 0 && a.length === 2 && a[0] === '+' && a[1] === '#';
    if (a[i] === '+') continue;
    // A literal in `outer` covers only the same literal; it cannot cover '+'.
    if (level === '+' || level !== a[i]) return false;
  }
}
