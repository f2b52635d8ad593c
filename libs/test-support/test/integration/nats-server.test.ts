import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { startNatsServer, uniqueName } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';

function banner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once('error', reject);
  });
}

describe('startNatsServer', () => {
  it('starts a JetStream server on its own free port and store, and removes the store on stop', async () => {
    const a = await startNatsServer();
    const b = await startNatsServer();
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.port).not.toBe(4222);
      expect(a.storeDir).not.toBe(b.storeDir);
      const info = await banner(a.port);
      expect(info).toMatch(/^INFO \{.*"jetstream":true/);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(existsSync(a.storeDir)).toBe(false);
  });

  it('uniqueName gives distinct names valid as stream names and subject tokens', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName()));
    expect(names.size).toBe(1000);
    for (const name of names) expect(name).toMatch(/^[a-z0-9]+$/);
  });
});
