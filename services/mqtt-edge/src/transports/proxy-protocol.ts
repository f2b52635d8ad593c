/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as sent by load balancers (HAProxy,
 * AWS NLB, …) in front of the MQTT listeners: the first bytes of the connection name the
 * real client address. Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
 */
import type { Socket } from 'node:net';

/** The 12-byte v2 signature (§2.2). */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 header is at most 107 bytes (§2.1). */
const V1_MAX_BYTES = 107;
/** Longest v2 header accepted: 16-byte fixed part plus addresses and TLVs. */
const V2_MAX_BYTES = 16 + 536;

/** Result of parsing the start of a connection. */
export type ProxyParse =
  | { readonly kind: 'more' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'ok'; readonly length: number; readonly address: string | undefined };

/** Parses a PROXY header at the start of `data` (v1 or v2). `address` is undefined for LOCAL/UNKNOWN. */
export function parseProxyHeader(data: Buffer): ProxyParse {
  if (data.length === 0) return { kind: 'more' };
  if (data[0] === 0x50) return parseV1(data);
  if (data[0] === 0x0d) return parseV2(data);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

function parseV1(data: Buffer): ProxyParse {
  const prefix = 'PROXY ';
  const head = data.subarray(0, Math.min(data.length, prefix.length)).toString('latin1');
  if (!prefix.startsWith(head)) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  const end = data.indexOf('\r\n');
  if (end === -1) {
    return data.length >= V1_MAX_BYTES ? { kind: 'invalid', reason: 'PROXY v1 header too long' } : { kind: 'more' };
  }
  const parts = data.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', length, address: undefined };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) {
    return { kind: 'invalid', reason: 'malformed PROXY v1 header' };
  }
  return { kind: 'ok', length, address: parts[2] };
}

function parseV2(data: Buffer): ProxyParse {
  const signature = data.subarray(0, Math.min(data.length, V2_SIGNATURE.length));
  if (!V2_SIGNATURE.subarray(0, signature.length).equals(signature)) {
    return { kind: 'invalid', reason: 'no PROXY protocol header' };
  }
  if (data.length < 16) return { kind: 'more' };
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'unsupported PROXY v2 version' };
  const addressLength = data.readUInt16BE(14);
  const length = 16 + addressLength;
  if (length > V2_MAX_BYTES) return { kind: 'invalid', reason: 'PROXY v2 header too long' };
  if (data.length < length) return { kind: 'more' };
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { kind: 'ok', length, address: undefined }; // LOCAL: health checks
  if (command !== 0x1) return { kind: 'invalid', reason: 'unsupported PROXY v2 command' };
  const family = data[13]! >> 4;
  const body = data.subarray(16, length);
  if (family === 0x1 && body.length >= 12) return { kind: 'ok', length, address: [...body.subarray(0, 4)].join('.') };
  if (family === 0x2 && body.length >= 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { kind: 'ok', length, address: compactIpv6(groups) };
  }
  return { kind: 'ok', length, address: undefined }; // AF_UNSPEC or UNIX: no IP address
}

/** `0:0:0:0:0:ffff:a00:1` → `::ffff:a00:1` (RFC 5952 §4.2, longest run of zero groups). */
function compactIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Reads the PROXY header from a fresh socket; resolves with the client address and the
 * bytes that followed it (the start of the MQTT or TLS stream). Rejects on a missing or
 * malformed header, or after `timeoutMs` without one. The socket is left paused.
 */
export function readProxyHeader(
  socket: Socket,
  timeoutMs: number,
): Promise<{ address: string | undefined; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, value?: { address: string | undefined; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const parsed = parseProxyHeader(buffered);
      if (parsed.kind === 'more') return;
      socket.pause();
      if (parsed.kind === 'invalid') finish(new Error(parsed.reason));
      else finish(undefined, { address: parsed.address, rest: buffered.subarray(parsed.length) });
    };
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(new Error('connection closed before the PROXY header'));
    const timer = setTimeout(() => finish(new Error('no PROXY header in time')), timeoutMs);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
