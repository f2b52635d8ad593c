/**
 * The bridge's own admin routes, served on the admin port beside `/healthz`, `/readyz` and
 * `/metrics`:
 *
 * - `GET /routes`: the route set in force, each route with its counters on this replica
 *   (matched, delivered, failed, dead-lettered, …), its QoS 1 partitions here, crossings in
 *   flight and reader lag (consumer `pending`).
 * - `POST /routes/test`: what every route would do with a given topic and payload; nothing is sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import type { AdminRoutes } from '@protomesh/telemetry';
import { isValidTopicName } from '@protomesh/topic-map';
import type { Bridge, RouteTestInput } from './app.js';
import type { CrossingPlan } from './crossing.js';

/** Largest `POST /routes/test` body, in bytes. */
export const ROUTE_TEST_MAX_BODY_BYTES = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2));
}

class BadRequest extends Error {}

/** The admin routes of `bridge`, for `serveAdmin({ extraRoutes })`. */
export function bridgeAdminRoutes(bridge: Bridge, settings: { partitions: number; maxHops: number }): AdminRoutes {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/routes') {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
        return true;
      }
      bridge.listRoutes().then(
        (routes) =>
          json(response, 200, {
            replica: bridge.replicaId,
            replicas: bridge.replicas(),
            partitions: settings.partitions,
            maxHops: settings.maxHops,
            source: bridge.routesSource(),
            routes,
          }),
        (error: unknown) => json(response, 500, { error: String(error) }),
      );
      return true;
    }
    if (path === '/routes/test') {
      if (request.method !== 'POST') {
        response.writeHead(405, { allow: 'POST' }).end();
        return true;
      }
      readBody(request).then(
        (body) => {
          try {
            const input = parseTestInput(body);
            json(response, 200, { results: bridge.testRoutes(input).map((r) => ({ ...r, plan: showPlan(r.plan) })) });
          } catch (error) {
            if (error instanceof BadRequest) json(response, 400, { error: error.message });
            else json(response, 500, { error: String(error) });
          }
        },
        (error: unknown) =>
          json(response, error instanceof BadRequest ? 413 : 400, { error: String((error as Error).message) }),
      );
      return true;
    }
    return false;
  };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > ROUTE_TEST_MAX_BODY_BYTES) {
        reject(new BadRequest(`body over ${ROUTE_TEST_MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/**
 * `{ tier, topic, payload | payloadBase64 | json, qos?, retain?, contentType?,
 * userProperties?: {name: value} | [[name, value]], headers?: [[name, value]] }`.
 */
function parseTestInput(body: Buffer): RouteTestInput {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new BadRequest('expected a JSON object');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequest('expected a JSON object');
  const { tier, topic, qos = 0, retain = false, contentType } = value;
  if (tier !== 'mqtt' && tier !== 'ws') throw new BadRequest("tier: expected 'mqtt' or 'ws'");
  if (typeof topic !== 'string' || !isValidTopicName(topic)) throw new BadRequest('topic: expected an MQTT topic name');
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new BadRequest('qos: expected 0, 1 or 2');
  if (typeof retain !== 'boolean') throw new BadRequest('retain: expected true or false');
  if (contentType !== undefined && typeof contentType !== 'string')
    throw new BadRequest('contentType: expected a string');
  let payload: Uint8Array;
  if (typeof value.payload === 'string') payload = new TextEncoder().encode(value.payload);
  else if (typeof value.payloadBase64 === 'string')
    payload = new Uint8Array(Buffer.from(value.payloadBase64, 'base64'));
  else if (value.json !== undefined) payload = new TextEncoder().encode(JSON.stringify(value.json));
  else if (value.payload === undefined) payload = new Uint8Array(0);
  else throw new BadRequest('payload: expected a string (or payloadBase64, or json)');
  let props: Array<[string, string]> | undefined;
  const raw = value.userProperties;
  if (Array.isArray(raw)) props = raw.map((pair) => [String(pair?.[0]), String(pair?.[1])]);
  else if (raw && typeof raw === 'object') props = Object.entries(raw).map(([k, v]) => [k, String(v)]);
  const extra = Array.isArray(value.headers)
    ? value.headers.map((pair) => [String(pair?.[0]), String(pair?.[1])] as [string, string])
    : [];
  const headers = [
    ...encodeMeta({
      qos,
      retain,
      ...(contentType === undefined ? {} : { contentType }),
      ...(props ? { userProperties: props } : {}),
    }),
    ...extra,
  ];
  return { tier, topic, payload, qos, headers };
}

/** A plan as JSON: the payload as text when it is UTF-8, else base64; metadata decoded. */
function showPlan(plan: CrossingPlan): unknown {
  if (plan.kind !== 'cross') return plan;
  let text: string | undefined;
  try {
    text = utf8.decode(plan.payload);
  } catch {
    text = undefined;
  }
  const meta = decodeMeta(plan.headers);
  return {
    kind: plan.kind,
    tier: plan.tier,
    topic: plan.topic,
    subject: plan.subject,
    qos: plan.qos,
    retain: plan.retain,
    retainedSubject: plan.retainedSubject ?? null,
    ...(text === undefined ? { payloadBase64: Buffer.from(plan.payload).toString('base64') } : { payload: text }),
    contentType: meta.contentType ?? null,
    payloadFormat: meta.payloadFormat ?? null,
    userProperties: meta.userProperties ?? [],
    headers: plan.headers,
  };
}
