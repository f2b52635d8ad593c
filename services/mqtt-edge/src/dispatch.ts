import type { Packet } from 'mqtt-packet';
import type { Connection } from './connection.js';
import { ProtocolViolationError } from './errors.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handlePingreq } from './handlers/pingreq.js';
import { handlePuback } from './handlers/puback.js';
import { handlePubcomp } from './handlers/pubcomp.js';
import { handlePublish } from './handlers/publish.js';
import { handlePubrec } from './handlers/pubrec.js';
import { handlePubrel } from './handlers/pubrel.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { Reason } from './reason-codes.js';

/**
 * The thin dispatcher: enforces the connection state, then hands each packet to its
 * handler. Anything a client may not send in the current state closes the connection
 * (MQTT 5 reason 0x82).
 */
export function dispatch(connection: Connection, packet: Packet): void {
  if (connection.state === 'awaiting-connect') {
    // [MQTT-3.1.0-1]: the first packet from the client must be CONNECT.
    if (packet.cmd === 'connect') handleConnect(connection, packet);
    else violation(connection, `first packet must be CONNECT, got ${packet.cmd.toUpperCase()}`);
    return;
  }
  if (connection.state !== 'connected') return;
  if (needsPacketId(packet) && !packet.messageId) {
    // [MQTT-2.2.1-3] / [MQTT-2.3.1-1] (v3.1.1): a non-zero Packet Identifier.
    violation(connection, `${packet.cmd.toUpperCase()} without a non-zero packet identifier`);
    return;
  }
  switch (packet.cmd) {
    case 'connect':
      // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
      violation(connection, 'second CONNECT on one connection');
      return;
    case 'publish':
      handlePublish(connection, packet);
      return;
    case 'puback':
      handlePuback(connection, packet);
      return;
    case 'pubrec':
      handlePubrec(connection, packet);
      return;
    case 'pubrel':
      handlePubrel(connection, packet);
      return;
    case 'pubcomp':
      handlePubcomp(connection, packet);
      return;
    case 'subscribe':
      handleSubscribe(connection, packet);
      return;
    case 'unsubscribe':
      handleUnsubscribe(connection, packet);
      return;
    case 'pingreq':
      handlePingreq(connection, packet);
      return;
    case 'disconnect':
      handleDisconnect(connection, packet);
      return;
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow from server to client; AUTH needs an
      // authentication method, which CONNECT refuses (enhanced authentication comes later).
      violation(connection, `${packet.cmd.toUpperCase()} is not allowed from a client here`);
      return;
  }
}

function needsPacketId(packet: Packet): boolean {
  switch (packet.cmd) {
    case 'publish':
      return packet.qos > 0;
    case 'subscribe':
    case 'unsubscribe':
      return true;
    default:
      return false;
  }
}

function violation(connection: Connection, reason: string): void {
  connection.fail(new ProtocolViolationError(reason), Reason.ProtocolError);
}
