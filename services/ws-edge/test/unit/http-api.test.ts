import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMeta } from '@protomesh/envelope';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EdgeFixture, edgeFixture } from '../support/edge.js';

let fixture: EdgeFixture | undefined;
const dir = mkdtempSync(join(tmpdir(), 'ws-api-'));

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function post(edge: EdgeFixture, body: unknown, headers: Record<string, string> = { authorization: 'Bearer k1' }) {
  return edge.app.inject({
    method: 'POST',
    url: '/api/v1/publish',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('POST /api/v1/publish', () => {
  it('is off (401) without configured keys', async () => {
    fixture = await edgeFixture();
    const response = await post(fixture, { topic: 'a', text: 'x' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ ok: false, code: 'PM_WS_UNAUTHORIZED' });
    expect(response.json().message).toContain('WS_API_KEYS');
  });

  it('requires a known key, from WS_API_KEYS or WS_API_KEYS_FILE, as Bearer or X-API-Key', async () => {
    const file = join(dir, 'keys');
    writeFileSync(file, '# backend keys\nk-file  # the billing service\n\n');
    fixture = await edgeFixture({ env: { WS_API_KEYS: 'k1,k2', WS_API_KEYS_FILE: file } });
    const missing = await post(fixture, { topic: 'a', text: 'x' }, {});
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('Bearer');
    expect((await post(fixture, { topic: 'a', text: 'x' }, { authorization: 'Bearer nope' })).statusCode).toBe(401);
    expect((await post(fixture, { topic: 'a', text: 'x' }, { authorization: 'Bearer k2' })).statusCode).toBe(200);
    expect((await post(fixture, { topic: 'a', text: 'x' }, { 'x-api-key': 'k-file' })).statusCode).toBe(200);
    expect((await post(fixture, { topic: 'a', text: 'x' }, { 'x-api-key': '# backend keys' })).statusCode).toBe(401);
  });

  it('publishes one message at QoS 0 or 1 to WebSocket subscribers; msgId makes a retry idempotent', async () => {
    fixture = await edgeFixture({ env: { WS_API_KEYS: 'k1' } });
    const subscriber = await fixture.connect();
    expect(await subscriber.request({ op: 'sub', id: 1, filter: 'alerts/#' })).toMatchObject({ op: 'ok' });

    const q0 = await post(fixture, { topic: 'alerts/1', text: 'fire' });
    expect(q0.statusCode).toBe(200);
    expect(q0.json()).toEqual({ ok: true });
    expect(await subscriber.nextMsg()).toMatchObject({ topic: 'alerts/1', qos: 0, text: 'fire', origin: 'ws' });

    const q1 = await post(fixture, { topic: 'alerts/2', qos: 1, data: { level: 3 }, msgId: 'evt-1' });
    expect(q1.json()).toEqual({ ok: true, seq: 1 });
    const again = await post(fixture, { topic: 'alerts/2', qos: 1, data: { level: 3 }, msgId: 'evt-1' });
    expect(again.json()).toEqual({ ok: true, seq: 1, duplicate: true });
    expect(await subscriber.nextMsg()).toMatchObject({
      topic: 'alerts/2',
      qos: 1,
      seq: 1,
      text: '{"level":3}',
      contentType: 'application/json',
    });
    const stored = await fixture.backbone.getMessage(fixture.layout.streams.ws.name, 1);
    expect(decodeMeta(stored?.headers).originClient).toMatch(/^api:[0-9a-f]{12}$/);
    expect((await fixture.backbone.streamState(fixture.layout.streams.ws.name))?.messages).toBe(1);
    expect(await subscriber.barrier()).toEqual([]);
  });

  it('publishes a batch in order, with one result per message', async () => {
    fixture = await edgeFixture({ env: { WS_API_KEYS: 'k1' } });
    const subscriber = await fixture.connect();
    await subscriber.request({ op: 'sub', id: 1, filter: 'b/#' });
    const response = await post(fixture, {
      messages: [
        { topic: 'b/1', qos: 1, text: 'one' },
        { topic: 'b/+', text: 'bad topic' },
        { topic: 'b/2', qos: 9, text: 'bad qos' },
        'not an object',
        { topic: 'b/3', qos: 1, b64: Buffer.from([0xff, 0]).toString('base64') },
      ],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().results).toEqual([
      { ok: true, seq: 1 },
      { ok: false, code: 'PM_WS_TOPIC_INVALID', message: expect.any(String) },
      { ok: false, code: 'PM_WS_BAD_REQUEST', message: 'qos: expected 0 or 1' },
      { ok: false, code: 'PM_WS_BAD_REQUEST', message: 'message: expected a JSON object' },
      { ok: true, seq: 2 },
    ]);
    const first = await subscriber.nextMsg();
    const second = await subscriber.nextMsg();
    expect([first.text, second.b64]).toEqual(['one', Buffer.from([0xff, 0]).toString('base64')]);
    expect(await fixture.metrics.render()).toMatch(/protomesh_ws_api_publishes_total\{[^}]*result="ok"[^}]*\} 2/);
  });

  it('answers bad bodies with stable codes and HTTP statuses', async () => {
    fixture = await edgeFixture({ env: { WS_API_KEYS: 'k1' } });
    const notJson = await post(fixture, '{oops');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ ok: false, code: 'PM_WS_BAD_REQUEST' });
    const badTopic = await post(fixture, { topic: '', text: 'x' });
    expect(badTopic.statusCode).toBe(400);
    expect(badTopic.json().code).toBe('PM_WS_TOPIC_INVALID');
    const noPayload = await post(fixture, { topic: 'a' });
    expect(noPayload.json()).toMatchObject({
      code: 'PM_WS_BAD_REQUEST',
      message: 'payload: one of text, b64 or data is required',
    });
    const tooMany = await post(fixture, { messages: Array.from({ length: 1001 }, () => ({ topic: 'a', text: '' })) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().message).toContain('1000');
    const empty = await post(fixture, { messages: [] });
    expect(empty.statusCode).toBe(400);
  });
});
