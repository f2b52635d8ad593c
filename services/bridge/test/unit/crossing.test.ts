import type { BridgeRoute, CrossingPlan } from '@protomesh/bridge';
import { compileRoutes } from '@protomesh/bridge';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import type { QosClass } from '@protomesh/topic-map';
import { describe, expect, it } from 'vitest';
import { planCrossing, TopicPlan } from '../../src/crossing.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const NOW = 1_700_000_000_000;

function plan(
  over: Partial<BridgeRoute>,
  topic: string,
  payload: Uint8Array | string,
  headers: Array<[string, string]> = [],
  options: { cls?: QosClass; maxHops?: number } = {},
): CrossingPlan {
  const [route] = compileRoutes('mesh', [
    { id: 'r', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws' }, ...over } as BridgeRoute,
  ]);
  return planCrossing(
    route!,
    {
      tier: 'mqtt',
      cls: options.cls ?? '1',
      topic,
      payload: typeof payload === 'string' ? text(payload) : payload,
      headers,
    },
    { prefix: 'mesh', retainedPrefix: 'mesh.retained', maxHops: options.maxHops ?? 1, now: NOW },
  );
}

function crossed(p: CrossingPlan) {
  if (p.kind !== 'cross') throw new Error(`expected a crossing, got ${JSON.stringify(p)}`);
  return { ...p, meta: decodeMeta(p.headers), text: str(p.payload) };
}

describe('crossing plans', () => {
  it('identity: same topic, class from QoS, source headers kept in order, then route and one hop', () => {
    const headers: Array<[string, string]> = [
      ...encodeMeta({ originTier: 'mqtt', originClient: 'dev 1', qos: 1, userProperties: [['k', 'v']] }),
      ['X-App', 'kept'],
      ['Nats-Msg-Id', 'edge-id'],
    ];
    const p = crossed(plan({}, 'a/b', 'hi', headers));
    expect(p).toMatchObject({ tier: 'ws', topic: 'a/b', subject: 'mesh.ws.1.a.b', qos: 1, retain: false });
    expect(p.retainedSubject).toBeUndefined();
    expect(p.headers.slice(0, 5)).toEqual(headers.slice(0, 5));
    expect(p.headers.some(([name]) => name === 'Nats-Msg-Id')).toBe(false);
    expect(p.meta).toMatchObject({ originClient: 'dev 1', qos: 1, userProperties: [['k', 'v']], route: 'r', hops: 1 });
    expect(crossed(plan({}, 'a', 'x', [], { cls: '0' }))).toMatchObject({ subject: 'mesh.ws.0.a', qos: 0 });
  });

  it('topic templates use positional, named and # captures; no match means no crossing', () => {
    const route = {
      from: { tier: 'mqtt' as const, filter: 'sensors/+id/#rest' },
      to: { tier: 'ws' as const, topic: 'devices/{id}/{#}' },
    };
    expect(crossed(plan(route, 'sensors/s7/temp/c', '1')).topic).toBe('devices/s7/temp/c');
    expect(crossed(plan(route, 'sensors/s7', '1')).topic).toBe('devices/s7');
    expect(plan(route, 'other/s7', '1')).toEqual({ kind: 'no_match' });
  });

  it('QoS policy: keep, cap at N, set N (class follows the target QoS)', () => {
    const q2 = encodeMeta({ qos: 2 });
    expect(crossed(plan({}, 't', 'x', q2)).qos).toBe(2);
    const capped = crossed(plan({ qos: { cap: 1 } }, 't', 'x', q2));
    expect(capped).toMatchObject({ qos: 1, subject: 'mesh.ws.1.t' });
    expect(capped.meta.qos).toBe(1);
    expect(crossed(plan({ qos: { cap: 1 } }, 't', 'x', [], { cls: '0' })).qos).toBe(0);
    const down = crossed(plan({ qos: { set: 0 } }, 't', 'x', q2));
    expect(down).toMatchObject({ qos: 0, subject: 'mesh.ws.0.t' });
    expect(down.meta.qos).toBe(0);
    expect(crossed(plan({ qos: { set: 1 } }, 't', 'x', [], { cls: '0' }))).toMatchObject({
      qos: 1,
      subject: 'mesh.ws.1.t',
    });
  });

  it('retain policy: keep, clear, set; a retained crossing names the target retained subject', () => {
    const retained = encodeMeta({ retain: true });
    const kept = crossed(plan({}, 'r/1', 'v', retained));
    expect(kept).toMatchObject({ retain: true, retainedSubject: 'mesh.retained.ws.1.r.1' });
    expect(kept.meta.retain).toBe(true);
    const cleared = crossed(plan({ retain: 'clear' }, 'r/1', 'v', retained));
    expect(cleared).toMatchObject({ retain: false, retainedSubject: undefined });
    expect(cleared.meta.retain).toBeUndefined();
    const set = crossed(
      plan({ retain: 'set', to: { tier: 'ws', topic: 'last/{#}' }, from: { tier: 'mqtt', filter: 'r/#' } }, 'r/1', 'v'),
    );
    expect(set).toMatchObject({ retain: true, retainedSubject: 'mesh.retained.ws.1.last.1' });
  });

  it('payload transforms: JSON ↔ text, binary ↔ base64 JSON, content type', () => {
    const toText = crossed(plan({ transform: { payload: 'json-to-text' } }, 't', '"hello"'));
    expect(toText.text).toBe('hello');
    expect(toText.meta).toMatchObject({ contentType: 'text/plain; charset=utf-8', payloadFormat: 1 });
    expect(crossed(plan({ transform: { payload: 'json-to-text' } }, 't', '{ "a" : 1 }')).text).toBe('{"a":1}');
    const toJson = crossed(plan({ transform: { payload: 'text-to-json' } }, 't', 'say "hi"'));
    expect(toJson.text).toBe('"say \\"hi\\""');
    expect(toJson.meta.contentType).toBe('application/json');
    const bytes = new Uint8Array([0, 255, 1, 2]);
    const wrapped = crossed(
      plan({ transform: { payload: 'binary-to-base64-json' } }, 't', bytes, encodeMeta({ contentType: 'image/x' })),
    );
    expect(JSON.parse(wrapped.text)).toEqual({ b64: 'AP8BAg==', contentType: 'image/x' });
    expect(wrapped.meta).toMatchObject({ contentType: 'application/json', payloadFormat: 1 });
    const back = crossed(
      plan({ transform: { payload: 'base64-json-to-binary' } }, 't', wrapped.payload, wrapped.headers.slice(0, 2)),
    );
    expect([...back.payload]).toEqual([...bytes]);
    expect(back.meta).toMatchObject({ contentType: 'image/x', payloadFormat: 0 });
    const typed = crossed(plan({ transform: { contentType: 'application/vnd.acme+json' } }, 't', '{}'));
    expect(typed.meta.contentType).toBe('application/vnd.acme+json');
    expect(typed.text).toBe('{}');
  });

  it('a payload that does not fit its transform becomes a dead letter with the error', () => {
    expect(plan({ transform: { payload: 'json-to-text' } }, 't', 'not json')).toEqual({
      kind: 'dead_letter',
      error: 'json-to-text: payload is not valid JSON',
    });
    expect(plan({ transform: { payload: 'text-to-json' } }, 't', new Uint8Array([0xff]))).toEqual({
      kind: 'dead_letter',
      error: 'text-to-json: payload is not valid UTF-8',
    });
    expect(plan({ transform: { payload: 'base64-json-to-binary' } }, 't', '{"b64":"%%"}')).toMatchObject({
      kind: 'dead_letter',
    });
  });

  it('user properties: forwarded, dropped, renamed and set', () => {
    const headers = encodeMeta({
      userProperties: [
        ['unit', 'C'],
        ['secret', 'x'],
        ['site', 'b e'],
      ],
    });
    const p = crossed(
      plan(
        { properties: { drop: ['secret'], rename: { site: 'location' }, set: { source: 'bridge' } } },
        't',
        'x',
        headers,
      ),
    );
    expect(p.meta.userProperties).toEqual([
      ['unit', 'C'],
      ['location', 'b e'],
      ['source', 'bridge'],
    ]);
    const none = crossed(plan({ properties: { forward: false } }, 't', 'x', headers));
    expect(none.meta.userProperties).toBeUndefined();
  });

  it('a condition on a JSON field: met, not met, not JSON', () => {
    const when = { field: 'reading.temp', op: 'gt' as const, value: 30 };
    expect(plan({ when }, 't', '{"reading":{"temp":31}}').kind).toBe('cross');
    expect(plan({ when }, 't', '{"reading":{"temp":30}}')).toEqual({ kind: 'skip', reason: 'filtered' });
    expect(plan({ when }, 't', 'garbage')).toEqual({ kind: 'skip', reason: 'filtered' });
    expect(plan({ when: { field: 'state', op: 'in', value: ['on', 'off'] } }, 't', '{"state":"on"}').kind).toBe(
      'cross',
    );
    expect(plan({ when: { field: 'id', op: 'matches', value: '^dev-' } }, 't', '{"id":"dev-1"}').kind).toBe('cross');
    expect(plan({ when: { field: 'gone', op: 'absent' } }, 't', '{}').kind).toBe('cross');
    expect(plan({ when: { field: 'values.1', op: 'eq', value: 5 } }, 't', '{"values":[4,5]}').kind).toBe('cross');
  });

  it('loop prevention by hop count and route id; expiry [MQTT-3.3.2-5]', () => {
    expect(plan({}, 't', 'x', encodeMeta({ hops: 1 }))).toEqual({ kind: 'skip', reason: 'skipped_loop' });
    expect(plan({}, 't', 'x', encodeMeta({ route: 'other' }))).toEqual({ kind: 'skip', reason: 'skipped_loop' });
    // With two hops allowed, another route's output may cross once more, but never the same route twice.
    expect(crossed(plan({}, 't', 'x', encodeMeta({ route: 'other', hops: 1 }), { maxHops: 2 })).meta).toMatchObject({
      route: 'other,r',
      hops: 2,
    });
    expect(plan({}, 't', 'x', encodeMeta({ route: 'r', hops: 1 }), { maxHops: 5 })).toEqual({
      kind: 'skip',
      reason: 'skipped_loop',
    });
    expect(plan({}, 't', 'x', encodeMeta({ expiresAt: NOW - 1 }))).toEqual({ kind: 'skip', reason: 'expired' });
    expect(crossed(plan({}, 't', 'x', encodeMeta({ expiresAt: NOW + 1_000 }))).meta.expiresAt).toBe(NOW + 1_000);
  });

  it('header names are matched case-insensitively: read, rewritten and JetStream headers dropped', () => {
    expect(plan({}, 't', 'x', [['mesh-route', 'other']])).toEqual({ kind: 'skip', reason: 'skipped_loop' });
    expect(plan({}, 't', 'x', [['MESH-EXPIRES-AT', String(NOW - 1)]])).toEqual({ kind: 'skip', reason: 'expired' });
    const p = crossed(
      plan({ qos: { set: 0 } }, 't', 'x', [
        ['mesh-qos', '1'],
        ['NATS-MSG-ID', 'edge-id'],
        ['nats-expected-stream', 'S'],
        ['X-Kept', 'k'],
      ]),
    );
    expect(p.headers).toEqual([
      ['X-Kept', 'k'],
      ['Mesh-QoS', '0'],
      ['Mesh-Route', 'r'],
      ['Mesh-Hops', '1'],
    ]);
  });

  it('one TopicPlan serves every message on its topic: the same plans as worked out per message', () => {
    const routes = compileRoutes('mesh', [
      { id: 'a', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws' }, qos: { cap: 1 } },
      { id: 'b', from: { tier: 'mqtt', filter: 's/+id/#' }, to: { tier: 'ws', topic: 'd/{id}/{#}' } },
      { id: 'c', from: { tier: 'mqtt', filter: 'other/#' }, to: { tier: 'ws' } },
      { id: 'd', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws', topic: `${'x'.repeat(3_490)}/{#}` } },
    ]);
    const ctx = { prefix: 'mesh', retainedPrefix: 'mesh.retained', maxHops: 1, now: NOW };
    const headerSets: Array<Array<[string, string]>> = [
      [],
      encodeMeta({ qos: 2, retain: true }),
      encodeMeta({ qos: 0 }),
      encodeMeta({ route: 'z' }),
      [['Mesh-Retain', '1']],
    ];
    for (const route of routes) {
      for (const topic of ['s/7/temp', 's/7', 'other/1']) {
        const shared = new TopicPlan(route, 'mqtt', topic, ctx);
        for (const cls of ['0', '1'] as const) {
          for (const headers of headerSets) {
            const message = { tier: 'mqtt' as const, cls, topic, payload: text('x'), headers };
            expect(planCrossing(route, message, ctx, shared)).toEqual(planCrossing(route, message, ctx));
          }
        }
      }
    }
    // The long template makes a subject over the limit: a dead letter, every time.
    const message = { tier: 'mqtt' as const, cls: '1' as const, topic: 's/7', payload: text('x'), headers: [] };
    const shared = new TopicPlan(routes[3]!, 'mqtt', 's/7', ctx);
    expect(planCrossing(routes[3]!, message, ctx, shared)).toMatchObject({ kind: 'dead_letter' });
    expect(planCrossing(routes[3]!, message, ctx, shared)).toMatchObject({ kind: 'dead_letter' });
  });
});
