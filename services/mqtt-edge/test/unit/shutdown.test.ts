import { createEmbeddedBackbone } from '@protomesh/backbone';
import { waitFor } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { gateAppends } from '../helpers/gated-backbone.js';
import { startHarness } from '../helpers/harness.js';

describe('graceful close', () => {
  it('lets stores finish and acknowledges them, then sends MQTT 5 DISCONNECT 0x8B and ends 3.1.1 sockets', async () => {
    const inner = createEmbeddedBackbone();
    const gated = gateAppends(inner);
    const h = await startHarness({ backbone: gated.backbone });
    try {
      const { client: v5 } = await h.connect({ version: 5 });
      const { client: v4 } = await h.connect({ version: 4 });
      v5.send({ cmd: 'publish', topic: 'drain', payload: 'x', qos: 1, messageId: 3, retain: false, dup: false });
      await waitFor(() => gated.waiting.length === 1, 'the append');
      const closing = h.broker.close(2_000);
      setTimeout(() => gated.release(), 100);
      await closing;
      expect(await v5.waitClosed()).toEqual([
        expect.objectContaining({ cmd: 'puback', messageId: 3 }),
        expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.ServerShuttingDown }),
      ]);
      expect(await v4.waitClosed()).toEqual([]);
      expect(h.broker.connections).toBe(0);
    } finally {
      await h.close();
      await inner.close();
    }
  });

  it('does not wait longer than the grace period for a store that never completes', async () => {
    const inner = createEmbeddedBackbone();
    const gated = gateAppends(inner);
    const h = await startHarness({ backbone: gated.backbone });
    try {
      const { client } = await h.connect({ version: 4 });
      client.send({ cmd: 'publish', topic: 'stuck', payload: 'x', qos: 1, messageId: 4, retain: false, dup: false });
      await waitFor(() => gated.waiting.length === 1, 'the append');
      const started = Date.now();
      await h.broker.close(1_200);
      expect(Date.now() - started).toBeLessThan(2_000);
      await client.waitClosed();
    } finally {
      await h.close();
      await inner.close();
    }
  });
});
