/**
 * A private copy of `bytes`, as a plain Uint8Array. Not `bytes.slice()`: on a Node `Buffer`
 * that is a view of the same memory, which would keep the caller's whole buffer (a socket
 * chunk, say) alive and change when the caller reuses it.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}
