import { createEmbeddedBackbone } from '@protomesh/backbone';
import { loadConfig } from '@protomesh/config';
import {
  EMBEDDED_STREAM_MAX_BYTES,
  layoutFor,
  type ServiceDeps,
  type ServiceHandle,
  startServices,
} from '@protomesh/runtime';
import { silentLogger } from '@protomesh/telemetry';
import { uniqueName } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';

function fakeService(name: string, events: string[], fail = false) {
  return {
    name,
    async start(deps: ServiceDeps): Promise<ServiceHandle> {
      // Provisioning happened before any service starts.
      const state = await deps.backbone.streamState(deps.layout.streams.mqtt.name);
      events.push(`${name}:start:${state ? 'provisioned' : 'missing'}`);
      if (fail) throw new Error(`${name} failed`);
      return { name, endpoints: {}, ports: {}, close: async () => void events.push(`${name}:close`) };
    },
  };
}

describe('startServices', () => {
  it('provisions the mesh, starts services in order and stops them in reverse, leaving an injected backbone open', async () => {
    const backbone = createEmbeddedBackbone();
    const events: string[] = [];
    const config = loadConfig({ env: { MESH_PREFIX: uniqueName() }, file: '' });
    const mesh = await startServices([fakeService('a', events), fakeService('b', events)], {
      config,
      logger: silentLogger(),
      backbone,
    });
    expect(events).toEqual(['a:start:provisioned', 'b:start:provisioned']);
    await Promise.all([mesh.stop(), mesh.stop()]);
    expect(events.slice(2)).toEqual(['b:close', 'a:close']);
    expect(backbone.isReady()).toBe(true);
    await backbone.close();
  });

  it('closes what already started when a later service fails to start', async () => {
    const backbone = createEmbeddedBackbone();
    const events: string[] = [];
    const config = loadConfig({ env: { MESH_PREFIX: uniqueName() }, file: '' });
    await expect(
      startServices([fakeService('a', events), fakeService('b', events, true)], {
        config,
        logger: silentLogger(),
        backbone,
      }),
    ).rejects.toThrow('b failed');
    expect(events).toEqual(['a:start:provisioned', 'b:start:provisioned', 'a:close']);
    await backbone.close();
  });
});

describe('layoutFor', () => {
  it('caps the tier streams of the embedded backbone, which live in memory, unless STREAM_MAX_BYTES is set', () => {
    const unset = loadConfig({ env: {}, file: '' });
    expect(layoutFor(unset, 'embedded').streams.mqtt.maxBytes).toBe(EMBEDDED_STREAM_MAX_BYTES);
    expect(layoutFor(unset, 'embedded').streams.ws.maxBytes).toBe(EMBEDDED_STREAM_MAX_BYTES);
    expect(layoutFor(unset, 'nats').streams.mqtt.maxBytes).toBeUndefined();
    const set = loadConfig({ env: { STREAM_MAX_BYTES: '1MiB' }, file: '' });
    expect(layoutFor(set, 'embedded').streams.mqtt.maxBytes).toBe(1024 * 1024);
    expect(layoutFor(set, 'nats').streams.mqtt.maxBytes).toBe(1024 * 1024);
  });
});
