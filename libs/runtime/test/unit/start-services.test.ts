import { createEmbeddedBackbone } from '@protomesh/backbone';
import { loadConfig } from '@protomesh/config';
import { type ServiceDeps, type ServiceHandle, startServices } from '@protomesh/runtime';
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
