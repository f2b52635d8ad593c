import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName } from '@protomesh/test-support';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { type MqttEdgeOverrides, mqttEdgeStarter } from '../../src/index.js';

/** Short timers for tests: redelivery after a crash, takeover wait, sweeper. */
export const TEST_OVERRIDES: MqttEdgeOverrides = {
  consumerAckWaitMs: 2_000,
  takeoverWaitMs: 1_000,
  sweepIntervalMs: 250,
};

/** One mqtt-edge replica started in this process. */
export interface Replica {
  readonly running: RunningMesh;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * A real nats-server and mqtt-edge replicas on it (each with its own NATS connection, as
 * separate processes would have), plus MQTT.js clients; `close()` stops everything.
 */
export class Cluster {
  readonly nats: NatsServerHandle;
  readonly prefix = uniqueName();
  readonly #cleanups: Array<() => Promise<unknown>> = [];

  private constructor(nats: NatsServerHandle) {
    this.nats = nats;
  }

  static async start(): Promise<Cluster> {
    return new Cluster(await startNatsServer());
  }

  async replica(env: Record<string, string> = {}, overrides: MqttEdgeOverrides = TEST_OVERRIDES): Promise<Replica> {
    const running = await startInProcess(
      { name: 'mqtt-edge', start: mqttEdgeStarter(overrides) },
      { prefix: this.prefix, natsUrl: this.nats.url, env: { MQTT_ALLOW_ANONYMOUS: 'true', ...env } },
    );
    const port = running.services[0]!.ports.mqtt!;
    let stopped: Promise<void> | undefined;
    const replica: Replica = {
      running,
      port,
      url: `mqtt://127.0.0.1:${port}`,
      stop: () => {
        stopped ??= running.stop();
        return stopped;
      },
    };
    this.#cleanups.push(() => replica.stop());
    return replica;
  }

  /** An MQTT.js client (no automatic reconnect unless asked). */
  async client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    this.#cleanups.push(() => client.endAsync(true));
    return client;
  }

  /** An MQTT.js client that is not connected yet (for reconnect scenarios). */
  track(client: MqttClient): MqttClient {
    this.#cleanups.push(() => client.endAsync(true));
    return client;
  }

  async close(): Promise<void> {
    while (this.#cleanups.length) await this.#cleanups.pop()!().catch(() => undefined);
    await this.nats.stop();
  }
}

/**
 * Registers the file's hooks for the common case: one nats-server and two mqtt-edge replicas,
 * started before the tests and closed after them.
 */
export function withTwoReplicas(ready: (cluster: Cluster, a: Replica, b: Replica) => void): void {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await Cluster.start();
    ready(cluster, await cluster.replica(), await cluster.replica());
  });
  afterAll(async () => {
    await cluster?.close();
  });
}
