/**
 * The NATS header names Protomesh uses — the one documented set, defined here only.
 * Values are ASCII: free text (client ids, user properties, topics) is percent-encoded.
 * A plain NATS application may omit every one of them; the payload is the application
 * payload byte for byte.
 */
export const HEADER = {
  /** Tier where the message entered the mesh: `mqtt` or `ws`. */
  origin: 'Mesh-Origin',
  /** Client id of the publisher (percent-encoded). */
  client: 'Mesh-Client',
  /** QoS the publisher used: `0`, `1` or `2`. */
  qos: 'Mesh-QoS',
  /** `1` when published with the retain flag. */
  retain: 'Mesh-Retain',
  /** MIME type of the payload (MQTT 5 Content Type). */
  contentType: 'Content-Type',
  /** MQTT 5 Payload Format Indicator: `1` = UTF-8 text, `0` = bytes. */
  payloadFormat: 'Mesh-Payload-Format',
  /** Absolute expiry time in epoch milliseconds (from MQTT 5 Message Expiry Interval). */
  expiresAt: 'Mesh-Expires-At',
  /**
   * When the edge accepted the client's publish, epoch milliseconds; carried unchanged by
   * the bridge, so deliveries measure publish-to-delivery latency end to end.
   */
  publishedAt: 'Mesh-Published-At',
  /** One MQTT 5 user property per value, `name=value`, both percent-encoded; order kept. */
  userProperty: 'Mesh-Prop',
  /** MQTT 5 Response Topic (percent-encoded). */
  responseTopic: 'Mesh-Response-Topic',
  /** MQTT 5 Correlation Data, base64. */
  correlationData: 'Mesh-Correlation-Data',
  /** Ids of the bridge routes that carried the message, comma-separated. */
  route: 'Mesh-Route',
  /** How many bridge hops the message has made. */
  hops: 'Mesh-Hops',
  /** W3C trace context. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

/** Message metadata carried beside the payload. Every field is optional on the wire. */
export interface MessageMeta {
  readonly originTier?: 'mqtt' | 'ws';
  readonly originClient?: string;
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
  readonly contentType?: string;
  readonly payloadFormat?: 0 | 1;
  /** Epoch milliseconds. */
  readonly expiresAt?: number;
  /** Epoch milliseconds when the mesh accepted the publish (see `HEADER.publishedAt`). */
  readonly publishedAt?: number;
  readonly userProperties?: ReadonlyArray<readonly [name: string, value: string]>;
  readonly responseTopic?: string;
  readonly correlationData?: Uint8Array;
  readonly route?: string;
  readonly hops?: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Ordered `[name, value]` header pairs (structurally the backbone's `HeaderEntries`). */
export type HeaderPairs = ReadonlyArray<readonly [name: string, value: string]>;

const enc = encodeURIComponent;

/** Metadata → header pairs; absent fields produce no header. */
export function encodeMeta(meta: MessageMeta): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (meta.originTier) out.push([HEADER.origin, meta.originTier]);
  if (meta.originClient !== undefined) out.push([HEADER.client, enc(meta.originClient)]);
  if (meta.qos !== undefined) out.push([HEADER.qos, String(meta.qos)]);
  if (meta.retain) out.push([HEADER.retain, '1']);
  if (meta.contentType !== undefined) out.push([HEADER.contentType, enc(meta.contentType)]);
  if (meta.payloadFormat !== undefined) out.push([HEADER.payloadFormat, String(meta.payloadFormat)]);
  if (meta.expiresAt !== undefined) out.push([HEADER.expiresAt, String(Math.round(meta.expiresAt))]);
  if (meta.publishedAt !== undefined) out.push([HEADER.publishedAt, String(Math.round(meta.publishedAt))]);
  for (const [name, value] of meta.userProperties ?? []) out.push([HEADER.userProperty, `${enc(name)}=${enc(value)}`]);
  if (meta.responseTopic !== undefined) out.push([HEADER.responseTopic, enc(meta.responseTopic)]);
  if (meta.correlationData !== undefined) {
    out.push([HEADER.correlationData, Buffer.from(meta.correlationData).toString('base64')]);
  }
  if (meta.route !== undefined) out.push([HEADER.route, meta.route]);
  if (meta.hops !== undefined) out.push([HEADER.hops, String(meta.hops)]);
  if (meta.traceparent !== undefined) out.push([HEADER.traceparent, meta.traceparent]);
  if (meta.tracestate !== undefined) out.push([HEADER.tracestate, meta.tracestate]);
  return out;
}

/**
 * Header pairs → metadata. Tolerant: a malformed or unknown header is ignored, so plain
 * NATS publishers (or a future version) never break a consumer.
 */
export function decodeMeta(headers: HeaderPairs | undefined): MessageMeta {
  if (!headers || headers.length === 0) return {};
  // The backbones hand out one frozen array for a run of identical header blocks.
  if (headers === lastHeaders) return lastMeta;
  const meta: { -readonly [K in keyof MessageMeta]: MessageMeta[K] } = {};
  let props: Array<[string, string]> | undefined;
  for (const [rawName, value] of headers) {
    // Our own encoder writes the canonical spellings: look those up without lowercasing.
    const name = CANONICAL.get(rawName) ?? rawName.toLowerCase();
    switch (name) {
      case 'mesh-origin':
        if (value === 'mqtt' || value === 'ws') meta.originTier = value;
        break;
      case 'mesh-client':
        meta.originClient = safeDecode(value);
        break;
      case 'mesh-qos':
        if (value === '0' || value === '1' || value === '2') meta.qos = Number(value) as 0 | 1 | 2;
        break;
      case 'mesh-retain':
        meta.retain = value === '1';
        break;
      case 'content-type':
        meta.contentType = safeDecode(value);
        break;
      case 'mesh-payload-format':
        if (value === '0' || value === '1') meta.payloadFormat = Number(value) as 0 | 1;
        break;
      case 'mesh-expires-at': {
        const at = Number(value);
        if (Number.isFinite(at)) meta.expiresAt = at;
        break;
      }
      case 'mesh-published-at': {
        const at = Number(value);
        if (Number.isFinite(at)) meta.publishedAt = at;
        break;
      }
      case 'mesh-prop': {
        const eq = value.indexOf('=');
        if (eq > 0 || eq === 0) {
          props ??= [];
          props.push([safeDecode(value.slice(0, eq)), safeDecode(value.slice(eq + 1))]);
        }
        break;
      }
      case 'mesh-response-topic':
        meta.responseTopic = safeDecode(value);
        break;
      case 'mesh-correlation-data':
        meta.correlationData = new Uint8Array(Buffer.from(value, 'base64'));
        break;
      case 'mesh-route':
        meta.route = value;
        break;
      case 'mesh-hops': {
        const hops = Number(value);
        if (Number.isInteger(hops) && hops >= 0) meta.hops = hops;
        break;
      }
      case 'traceparent':
        meta.traceparent = value;
        break;
      case 'tracestate':
        meta.tracestate = value;
        break;
    }
  }
  if (props) meta.userProperties = Object.freeze(props);
  if (Object.isFrozen(headers)) {
    lastHeaders = headers;
    lastMeta = Object.freeze(meta);
  }
  return meta;
}

/** The last frozen header array decoded, and its (frozen) metadata. */
let lastHeaders: HeaderPairs | undefined;
let lastMeta: MessageMeta = {};

/** The first value of header `name` (case-insensitive), or undefined. */
export function headerValue(headers: HeaderPairs | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of headers) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** True when the message has crossed a bridge route at least once. */
export function isBridged(headers: HeaderPairs | undefined): boolean {
  return headerValue(headers, HEADER.hops) !== undefined || headerValue(headers, HEADER.route) !== undefined;
}

/** The header names as `encodeMeta` spells them, lowercased (what `decodeMeta` switches on). */
const CANONICAL = new Map<string, string>(Object.values(HEADER).map((name) => [name, name.toLowerCase()]));

function safeDecode(value: string): string {
  // encodeURIComponent leaves a value without '%' unchanged: nothing to decode.
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
