import { createEmbeddedBackbone, LEASE_TTL_MS, layoutStem, meshLayout, provisionMesh } from '@protomesh/backbone';
import { topicToSubject } from '@protomesh/topic-map';
import { describe, expect, it } from 'vitest';

describe('meshLayout', () => {
  it('names every stream and bucket after the prefix', () => {
    const layout = meshLayout('acme.prod-eu', { replicas: 3, streamMaxBytes: 1_000_000, retainedMaxMsgs: 50 });
    expect(layoutStem('acme.prod-eu')).toBe('ACME_PROD_EU');
    expect(layout.prefix).toBe('acme.prod-eu');
    expect(layout.retainedPrefix).toBe('acme.prod-eu.retained');
    expect(layout.streams.mqtt).toEqual({
      name: 'ACME_PROD_EU_MQTT',
      subjects: ['acme.prod-eu.mqtt.1.>', 'acme.prod-eu.mqtt.$1.>'],
      maxAgeMs: 24 * 60 * 60 * 1000,
      duplicateWindowMs: 120_000,
      maxBytes: 1_000_000,
      replicas: 3,
    });
    expect(layout.streams.ws.name).toBe('ACME_PROD_EU_WS');
    expect(layout.streams.ws.subjects).toEqual(['acme.prod-eu.ws.1.>', 'acme.prod-eu.ws.$1.>']);
    expect(layout.streams.retained).toEqual({
      name: 'ACME_PROD_EU_RETAINED',
      subjects: ['acme.prod-eu.retained.>'],
      lastValuePerSubject: true,
      maxMsgs: 50,
      replicas: 3,
    });
    expect(layout.buckets.sessions).toEqual({ bucket: 'ACME_PROD_EU_SESSIONS', replicas: 3 });
    expect(layout.buckets.leases).toEqual({ bucket: 'ACME_PROD_EU_LEASES', ttlMs: LEASE_TTL_MS, replicas: 3 });
    expect(Object.isFrozen(layout.streams.mqtt.subjects)).toBe(true);
  });

  it('uses defaults and rejects a bad prefix', () => {
    const layout = meshLayout('mesh');
    expect(layout.streams.mqtt.maxAgeMs).toBe(24 * 60 * 60 * 1000);
    expect(layout.streams.mqtt.replicas).toBeUndefined();
    expect(() => meshLayout('bad prefix')).toThrow(expect.objectContaining({ code: 'PM_PREFIX_INVALID' }));
    expect(() => meshLayout('')).toThrow(expect.objectContaining({ code: 'PM_PREFIX_INVALID' }));
  });

  it('provisions idempotently; retained subjects land in the retained stream', async () => {
    const backbone = createEmbeddedBackbone();
    const layout = meshLayout('mesh', { streamMaxAgeMs: 60_000 });
    await Promise.all([provisionMesh(backbone, layout), provisionMesh(backbone, layout)]);
    await provisionMesh(backbone, layout);
    const subject = topicToSubject({ prefix: layout.retainedPrefix, tier: 'mqtt' }, 'home/kitchen/temp', '1');
    expect(await backbone.append(subject, new Uint8Array([1]))).toMatchObject({ stream: 'MESH_RETAINED' });
    const qos1 = topicToSubject({ prefix: layout.prefix, tier: 'ws' }, '$SYS/x', '1');
    expect(await backbone.append(qos1, new Uint8Array([1]))).toMatchObject({ stream: 'MESH_WS' });
    const qos0 = topicToSubject({ prefix: layout.prefix, tier: 'ws' }, 'a/b', '0');
    await expect(backbone.append(qos0, new Uint8Array([1]))).rejects.toMatchObject({ code: 'PM_NO_STREAM' });
    const leases = await backbone.kv(layout.buckets.leases);
    expect(leases.name).toBe('MESH_LEASES');
    await backbone.close();
  });
});
