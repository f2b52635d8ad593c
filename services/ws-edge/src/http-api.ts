/**
 * `POST /api/v1/publish`: backends publish into the WebSocket tier over HTTP, one message or
 * a batch, authenticated with an API key (docs/ws-protocol.md "HTTP API"). Messages use the
 * fields of a `pub` frame, so one parser validates both.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { MeshError } from '@protomesh/errors';
import type { MessageSpanOptions, TraceCarrier, Tracing } from '@protomesh/telemetry';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, InternalError, ShuttingDownError, UnauthorizedError } from './errors.js';
import { parseRequest, validTraceparent, validTracestate } from './protocol.js';
import type { Publisher, PublishOutcome } from './publisher.js';
import type { AuthFailureReason, WsTelemetry } from './telemetry.js';

/** The path of the publish API. */
export const PUBLISH_API_PATH = '/api/v1/publish';
/** Most messages in one batch request. */
export const MAX_BATCH_MESSAGES = 1_000;

/** One accepted API key: its SHA-256 (compared in constant time) and a short public fingerprint. */
export interface ApiKey {
  readonly digest: Buffer;
  /** First 12 hex digits of the SHA-256: names the key in `Mesh-Client` and logs without revealing it. */
  readonly fingerprint: string;
}

/** The keys of `WS_API_KEYS` (comma-separated) and `WS_API_KEYS_FILE` (one per line, `#` comments). */
export function loadApiKeys(list: string | undefined, file: string | undefined): ApiKey[] {
  const raw = (list ?? '').split(',');
  if (file !== undefined) raw.push(...readFileSync(file, 'utf8').split(/\r?\n/));
  const keys = raw.map((line) => line.replace(/#.*$/, '').trim()).filter((line) => line.length > 0);
  return [...new Set(keys)].map((key) => {
    const digest = sha256(key);
    return { digest, fingerprint: digest.toString('hex').slice(0, 12) };
  });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Finds the key presented in `Authorization: Bearer <key>` or `X-API-Key: <key>`; else why
 * not (`missing_credentials`: none presented, `bad_credentials`: not one of the keys).
 */
function authenticate(request: FastifyRequest, keys: readonly ApiKey[]): ApiKey | AuthFailureReason {
  const header = request.headers.authorization;
  const bearer = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  const presented = bearer ?? headerString(request.headers['x-api-key']);
  if (presented === undefined) return 'missing_credentials';
  const digest = sha256(presented);
  // Digests have one length, so timingSafeEqual applies; every key is compared.
  let found: ApiKey | undefined;
  for (const key of keys) if (timingSafeEqual(key.digest, digest)) found = key;
  return found ?? 'bad_credentials';
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** One message's result in a response. */
type Result =
  | ({ readonly ok: true } & PublishOutcome)
  | { readonly ok: false; readonly code: string; readonly message: string };

export interface PublishApiOptions {
  readonly publisher: Publisher;
  readonly telemetry: WsTelemetry;
  /** With tracing on, each message's publish span is a child of the request's span (`@fastify/otel`). */
  readonly tracing: Tracing;
  readonly keys: readonly ApiKey[];
  /** Largest request body, in bytes. */
  readonly bodyLimit: number;
  readonly isClosing: () => boolean;
}

/** What the messages of one API request continue. */
interface RequestTrace {
  /** The request's SERVER span (tracing on and the route instrumented): the publish spans' parent. */
  readonly span: MessageSpanOptions['parent'];
  /** The request's `traceparent`/`tracestate` headers, validated: forwarded when tracing is off. */
  readonly headers: TraceCarrier | undefined;
}

/** HTTP status for a failed single publish, by error code. */
const STATUS: Readonly<Record<string, number>> = {
  PM_WS_BAD_REQUEST: 400,
  PM_WS_TOPIC_INVALID: 400,
  PM_WS_UNAUTHORIZED: 401,
  PM_WS_SHUTTING_DOWN: 503,
  PM_WS_PUBLISH_FAILED: 502,
};

/** Registers `POST /api/v1/publish`. */
export function registerPublishApi(app: FastifyInstance, options: PublishApiOptions): void {
  const { publisher, telemetry, tracing, keys } = options;

  const failure = (error: { code: string; message: string }): Result => {
    telemetry.apiPublished(error.code);
    return { ok: false, code: error.code, message: error.message };
  };

  const publishOne = async (body: unknown, key: ApiKey, trace: RequestTrace): Promise<Result> => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return failure(new BadRequestError('message', 'expected a JSON object'));
    }
    const parsed = parseRequest({ ...(body as Record<string, unknown>), op: 'pub' });
    if (!parsed.ok) return failure(parsed.error);
    const request = parsed.request;
    if (request.op !== 'pub') return failure(new InternalError());
    try {
      const outcome = await publisher.publish({
        topic: request.topic,
        qos: request.qos,
        retain: request.retain,
        payload: request.payload,
        contentType: request.contentType,
        payloadFormat: request.payloadFormat,
        originClient: `api:${key.fingerprint}`,
        dedupId: request.msgId === undefined ? undefined : `api/${key.fingerprint}:${request.msgId}`,
        trace: request.traceparent === undefined ? trace.headers : request,
        parent: trace.span,
      });
      telemetry.apiPublished('ok');
      return { ok: true, ...outcome };
    } catch (error) {
      const mesh = error as MeshError;
      return failure(typeof mesh.code === 'string' ? mesh : new InternalError());
    }
  };

  app.post(PUBLISH_API_PATH, { bodyLimit: options.bodyLimit }, async (request: FastifyRequest, reply: FastifyReply) => {
    if (keys.length === 0) {
      telemetry.authFailure('bad_credentials');
      return send(reply, 401, failure(new UnauthorizedError('the HTTP API has no keys configured (WS_API_KEYS)')));
    }
    const key = authenticate(request, keys);
    if (typeof key === 'string') {
      telemetry.authFailure(key);
      void reply.header('www-authenticate', 'Bearer realm="protomesh"');
      return send(reply, 401, failure(new UnauthorizedError('missing or unknown API key')));
    }
    const trace = requestTrace(request, tracing);
    if (options.isClosing()) return send(reply, 503, failure(new ShuttingDownError()));
    const body = request.body as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body) && 'messages' in body) {
      const messages = (body as { messages: unknown }).messages;
      if (!Array.isArray(messages) || messages.length === 0 || messages.length > MAX_BATCH_MESSAGES) {
        return send(
          reply,
          400,
          failure(new BadRequestError('messages', `expected an array of 1 to ${MAX_BATCH_MESSAGES} messages`)),
        );
      }
      // Started in order, so QoS 1 messages of one batch are stored in the order given.
      const results = await Promise.all(messages.map((message) => publishOne(message, key, trace)));
      return send(reply, 200, { results });
    }
    const result = await publishOne(body, key, trace);
    return send(reply, result.ok ? 200 : (STATUS[result.code] ?? 500), result);
  });

  // Fastify's own body errors (not JSON, too large) in the same shape as ours.
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const status = error.statusCode ?? 500;
    const code = status === 413 ? 'PM_WS_FRAME_TOO_LARGE' : status < 500 ? 'PM_WS_BAD_REQUEST' : 'PM_WS_INTERNAL';
    return send(reply, status, failure({ code, message: error.message }));
  });
}

/**
 * The trace context of an API request: its `@fastify/otel` span with tracing on (which
 * itself continues a `traceparent` header), and the headers as sent (W3C Trace Context §3),
 * forwarded with the messages when tracing is off. A message's own `traceparent` field
 * takes the headers' place.
 */
function requestTrace(request: FastifyRequest, tracing: Tracing): RequestTrace {
  const span = tracing.enabled ? (request.opentelemetry().span ?? undefined) : undefined;
  const traceparent = validTraceparent(headerString(request.headers.traceparent));
  if (traceparent === undefined) return { span, headers: undefined };
  const tracestate = validTracestate(headerString(request.headers.tracestate));
  return { span, headers: tracestate === undefined ? { traceparent } : { traceparent, tracestate } };
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(body);
}
