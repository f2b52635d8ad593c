/**
 * The transports: thin adapters that hand a Duplex stream (and the client's address) to the
 * transport-agnostic broker. MQTT over TCP, over TLS (mqtts) and over WebSocket
 * (MQTT 5 §6: binary frames, subprotocol `mqtt`; `mqttv3.1` for old clients), each
 * optionally behind a load balancer that sends the PROXY protocol (TCP, TLS) or
 * X-Forwarded-For (WebSocket).
 */
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import {
  createSecureContext,
  createServer as createTlsServer,
  type SecureContextOptions,
  TLSSocket,
  type TlsOptions,
} from 'node:tls';
import type { Logger } from '@protomesh/telemetry';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttBroker } from '../broker.js';
import { readProxyHeader } from './proxy-protocol.js';

/** Time a load balancer has to send the PROXY header, and a TLS client to finish its handshake, in ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** WebSocket subprotocols for MQTT (MQTT 5 §6.0.0 [MQTT-6.0.0-3]; `mqttv3.1` for MQTT 3.1 clients). */
export const MQTT_WS_PROTOCOLS = ['mqtt', 'mqttv3.1'] as const;
/** WebSocket close code for a text frame (RFC 6455 §7.4.1, 1003 unsupported data) [MQTT-6.0.0-1]. */
const WS_CLOSE_UNSUPPORTED_DATA = 1003;

/** Options shared by the socket listeners. */
export interface SocketListenerOptions {
  /** Expect a PROXY protocol v1/v2 header on every connection. */
  readonly proxyProtocol: boolean;
  readonly logger: Logger;
}

/** MQTT over TCP. */
export function createTcpListener(broker: MqttBroker, options: SocketListenerOptions): NetServer {
  return createNetServer((socket) => {
    // MQTT packets are small and latency matters more than coalescing.
    socket.setNoDelay(true);
    if (!options.proxyProtocol) {
      broker.handle(socket);
      return;
    }
    readProxyHeader(socket, HANDSHAKE_TIMEOUT_MS).then(
      ({ address, rest }) => {
        if (rest.length > 0) socket.unshift(rest);
        broker.handle(socket, address ?? socket.remoteAddress);
        socket.resume();
      },
      (error: Error) => refuse(socket, error, options.logger),
    );
  });
}

/** Certificate material of the TLS listener (PEM). */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When set, clients must present a certificate signed by it. */
  readonly ca?: Buffer;
}

/** MQTT over TLS. Behind a PROXY-protocol load balancer the header precedes the TLS handshake. */
export function createTlsListener(broker: MqttBroker, tls: TlsMaterial, options: SocketListenerOptions): NetServer {
  const context: SecureContextOptions = { cert: tls.cert, key: tls.key, ...(tls.ca && { ca: tls.ca }) };
  const verify = { requestCert: tls.ca !== undefined, rejectUnauthorized: tls.ca !== undefined };
  if (!options.proxyProtocol) {
    const server = createTlsServer(
      { ...context, ...verify, handshakeTimeout: HANDSHAKE_TIMEOUT_MS } as TlsOptions,
      (socket) => {
        socket.setNoDelay(true);
        broker.handle(socket);
      },
    );
    server.on('tlsClientError', (error) => options.logger.debug({ err: error }, 'mqtts handshake failed'));
    return server;
  }
  const secureContext = createSecureContext(context);
  return createNetServer((socket) => {
    socket.setNoDelay(true);
    readProxyHeader(socket, HANDSHAKE_TIMEOUT_MS).then(
      ({ address, rest }) => {
        const tlsSocket = new TLSSocket(withPrefix(socket, rest), { isServer: true, secureContext, ...verify });
        const timer = setTimeout(() => tlsSocket.destroy(), HANDSHAKE_TIMEOUT_MS);
        tlsSocket.once('secure', () => {
          clearTimeout(timer);
          broker.handle(tlsSocket, address ?? socket.remoteAddress);
        });
        tlsSocket.on('error', (error) => {
          clearTimeout(timer);
          options.logger.debug({ err: error }, 'mqtts handshake failed');
          socket.destroy();
        });
      },
      (error: Error) => refuse(socket, error, options.logger),
    );
  });
}

/** Options of the WebSocket listener. */
export interface WsListenerOptions {
  readonly path: string;
  /** Take the client address from the first X-Forwarded-For entry (behind a trusted proxy). */
  readonly trustForwardedFor: boolean;
  /** Largest WebSocket message, in bytes. */
  readonly maxPayload: number;
  readonly logger: Logger;
}

/** MQTT over WebSocket: an HTTP server whose upgrade on `path` carries MQTT in binary frames. */
export function createWsListener(
  broker: MqttBroker,
  options: WsListenerOptions,
): { readonly server: HttpServer; close(): void } {
  const server = createHttpServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end(`MQTT over WebSocket: connect to ${options.path} with subprotocol mqtt\n`);
  });
  const wss = new WebSocketServer({
    server,
    path: options.path,
    maxPayload: options.maxPayload,
    // [MQTT-6.0.0-3] [MQTT-6.0.0-4]: answer with the MQTT subprotocol the client offered.
    handleProtocols: (offered) => MQTT_WS_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  wss.on('connection', (ws, request) => {
    ws.on('message', (_data, isBinary) => {
      // [MQTT-6.0.0-1]: MQTT travels in binary frames; a text frame closes the connection.
      if (!isBinary) ws.close(WS_CLOSE_UNSUPPORTED_DATA, 'MQTT needs binary frames');
    });
    const stream = createWebSocketStream(ws);
    stream.on('error', (error) => options.logger.debug({ err: error }, 'mqtt websocket error'));
    broker.handle(stream, clientAddress(request, options.trustForwardedFor));
  });
  wss.on('error', (error) => options.logger.warn({ err: error }, 'mqtt websocket server error'));
  return {
    server,
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

/** The client address of a WebSocket upgrade: X-Forwarded-For's first entry when trusted. */
export function clientAddress(request: IncomingMessage, trustForwardedFor: boolean): string | undefined {
  if (trustForwardedFor) {
    const header = request.headers['x-forwarded-for'];
    const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress;
}

function refuse(socket: Socket, error: Error, logger: Logger): void {
  logger.debug({ err: error, remote: socket.remoteAddress }, 'connection refused: PROXY protocol');
  socket.destroy();
}

/**
 * A Duplex over `socket` that first yields `prefix` (bytes read past the PROXY header), so a
 * TLS socket can wrap it without losing the start of the handshake.
 */
function withPrefix(socket: Socket, prefix: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  if (prefix.length > 0) duplex.push(prefix);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (error) => duplex.destroy(error));
  socket.on('close', () => duplex.destroy());
  return duplex;
}
