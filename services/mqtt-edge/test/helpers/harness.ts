import { type Backbone, createEmbeddedBackbone, type MeshLayout, meshLayout, provisionMesh } from '@protomesh/backbone';
import { ServiceMetrics, silentLogger } from '@protomesh/telemetry';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { createMqttBroker, type MqttBroker, type MqttBrokerOptions } from '../../src/index.js';
import { RetainedStore } from '../../src/retained.js';
import { duplexPair } from './duplex-pair.js';
import { TestClient } from './mqtt-test-client.js';

/** A broker on an embedded backbone with in-memory clients. */
export interface Harness {
  readonly broker: MqttBroker;
  readonly backbone: Backbone;
  readonly metrics: ServiceMetrics;
  readonly prefix: string;
  readonly layout: MeshLayout;
  /** Direct access to the retained store (what another tier would write). */
  readonly retained: RetainedStore;
  /** Opens a connection without sending anything. */
  open(version?: 3 | 4 | 5): TestClient;
  /** Opens a connection, sends CONNECT and reads the CONNACK. */
  connect(options?: ConnectOptions): Promise<{ client: TestClient; connack: IConnackPacket }>;
  /** Closes every client, the broker and (if it made it) the backbone. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly version?: 3 | 4 | 5;
  readonly clientId?: string;
  readonly clean?: boolean;
  readonly keepalive?: number;
  readonly username?: string;
  readonly password?: Buffer;
  readonly properties?: IConnectPacket['properties'];
  readonly will?: IConnectPacket['will'];
}

let counter = 0;

/** Starts a broker for one test; `close()` it in `afterEach`. */
export async function startHarness(
  options: Partial<Omit<MqttBrokerOptions, 'backbone'>> & { readonly backbone?: Backbone } = {},
): Promise<Harness> {
  const prefix = `t${process.pid}x${++counter}`;
  const backbone = options.backbone ?? createEmbeddedBackbone();
  const layout = meshLayout(prefix);
  await provisionMesh(backbone, layout);
  const metrics = new ServiceMetrics('mqtt-edge');
  const broker = createMqttBroker({
    logger: silentLogger(),
    metrics,
    prefix,
    maxPacketSize: 1024 * 1024,
    connectTimeoutMs: 2_000,
    maxKeepalive: 0,
    allowAnonymous: true,
    takeoverWaitMs: 500,
    sweepIntervalMs: 200,
    consumerAckWaitMs: 1_000,
    ...options,
    backbone,
  });
  const clients: TestClient[] = [];
  const open = (version: 3 | 4 | 5 = 4) => {
    const [serverSide, clientSide] = duplexPair();
    broker.handle(serverSide);
    const client = new TestClient(clientSide, version);
    clients.push(client);
    return client;
  };
  return {
    broker,
    backbone,
    metrics,
    prefix,
    layout,
    retained: new RetainedStore(backbone, layout),
    open,
    async connect(connect: ConnectOptions = {}) {
      const version = connect.version ?? 4;
      const client = open(version);
      client.send({
        cmd: 'connect',
        protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clientId: connect.clientId ?? `client-${++counter}`,
        clean: connect.clean ?? true,
        keepalive: connect.keepalive ?? 0,
        ...(connect.username !== undefined && { username: connect.username }),
        ...(connect.password !== undefined && { password: connect.password }),
        ...(connect.properties && { properties: connect.properties }),
        ...(connect.will && { will: connect.will }),
      });
      const connack = await client.next('connack');
      return { client, connack };
    },
    async close() {
      for (const client of clients) client.stream.destroy();
      await broker.close(500);
      if (!options.backbone) await backbone.close();
      await metrics.shutdown();
    },
  };
}
