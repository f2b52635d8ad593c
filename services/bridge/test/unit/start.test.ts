import { createServer } from 'node:net';
import { createEmbeddedBackbone } from '@protomesh/backbone';
import { startBridge } from '@protomesh/bridge';
import { startInProcess, uniqueName } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';

describe('startBridge', () => {
  it('serves /readyz and /metrics on the admin port and stops gracefully', async () => {
    const backbone = createEmbeddedBackbone();
    try {
      const mesh = await startInProcess({ name: 'bridge', start: startBridge }, { prefix: uniqueName(), backbone });
      const [service] = mesh.services;
      expect(Object.keys(service!.endpoints)).toEqual(['admin']);
      const ready = await fetch(`${service!.endpoints.admin}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`${service!.endpoints.admin}/metrics`)).text();
      expect(metrics).toMatch(/protomesh_bridge_partitions_held\{route="mqtt->ws"\} 12/);
      const leases = await backbone.kv(mesh.layout.buckets.leases);
      // 12 partitions of each identity route, and the replica's heartbeat.
      expect(await leases.keys()).toHaveLength(25);
      await mesh.stop();
      expect(await leases.keys()).toEqual([]);
    } finally {
      await backbone.close();
    }
  });

  it('a taken admin port fails with a one-line error naming BRIDGE_ADMIN_PORT', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const backbone = createEmbeddedBackbone();
    try {
      await expect(
        startInProcess(
          { name: 'bridge', start: startBridge },
          { prefix: uniqueName(), backbone, env: { BRIDGE_ADMIN_PORT: String(port) } },
        ),
      ).rejects.toThrow(/BRIDGE_ADMIN_PORT/);
    } finally {
      blocker.close();
      await backbone.close();
    }
  });
});
