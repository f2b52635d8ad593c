// `npm start` — the real command from the README — runs the whole mesh in one process on the
// embedded backbone; one MQTT publish reaches one WebSocket subscriber (issue 2).
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@protomesh/test-support';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { TestWsClient } from '../helpers/ws-client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(-child.pid, 'SIGKILL');
    }
  }
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

interface Started {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function npmStart(env: Record<string, string>): Started {
  // Detached: the test can signal npm and the node process it starts as one process group.
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, NATS_URL: '', LOG_LEVEL: 'warn', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const started: Started = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    started.stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    started.stderr += chunk.toString();
  });
  return started;
}

const PORTS_ZERO = { MQTT_PORT: '0', WS_PORT: '0', MQTT_ADMIN_PORT: '0', WS_ADMIN_PORT: '0', BRIDGE_ADMIN_PORT: '0' };

it('boots the whole mesh on the embedded backbone and carries an MQTT publish to a WebSocket subscriber', async () => {
  const started = npmStart({ ...PORTS_ZERO, MQTT_HOST: '127.0.0.1', WS_HOST: '127.0.0.1', ADMIN_HOST: '127.0.0.1' });
  await waitFor(
    () => /ws-edge\s+ws\s+\S+/.test(started.stdout) || started.child.exitCode !== null,
    'printed addresses',
    60_000,
  );
  expect(started.stdout).toContain('embedded backbone');
  const mqttUrl = /mqtt-edge\s+mqtt\s+(mqtt:\/\/\S+)/.exec(started.stdout)?.[1];
  const wsUrl = /ws-edge\s+ws\s+(ws:\/\/\S+)/.exec(started.stdout)?.[1];
  expect(mqttUrl, started.stdout + started.stderr).toBeDefined();
  expect(wsUrl).toBeDefined();

  const subscriber = await TestWsClient.connect(wsUrl!);
  await subscriber.subscribe('home/+/temp');
  const publisher = await mqtt.connectAsync(mqttUrl!, { protocolVersion: 5, reconnectPeriod: 0 });
  await publisher.publishAsync('home/kitchen/temp', '21.5', { qos: 1 });
  await waitFor(() => subscriber.messages.length > 0, 'the bridged message');
  expect(subscriber.messages[0]).toMatchObject({ topic: 'home/kitchen/temp', text: '21.5' });
  await publisher.endAsync();
  await subscriber.close();

  // SIGTERM to the whole group (npm, its shell and node): npm dies of the signal, node
  // drains and says so on the stdout it shares with npm.
  process.kill(-started.child.pid!, 'SIGTERM');
  await started.exited;
  await waitFor(() => started.stdout.includes('protomesh: stopped'), 'graceful stop', 15_000);
});

it('refuses a port in use with one line naming the setting to change', async () => {
  const blocker = createServer();
  servers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const started = npmStart({ ...PORTS_ZERO, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(port) });
  expect(await started.exited).toBe(1);
  const lines = started.stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('protomesh:'));
  expect(lines).toEqual([
    `protomesh: port ${port} on 127.0.0.1 is already in use: set MQTT_PORT to a free port, e.g. MQTT_PORT=${port + 1}`,
  ]);
});
