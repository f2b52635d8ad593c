import type { IPubrecPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { Reason } from '../reason-codes.js';

/**
 * PUBREC for an outbound QoS 2 delivery: the client has the message; PUBREL follows (for a
 * persistent session once that is stored). An identifier not in flight is answered with
 * PUBREL, MQTT 5 reason 0x92 (packet identifier not found), so the client's state ends.
 */
export function handlePubrec(connection: Connection, packet: IPubrecPacket): void {
  const id = packet.messageId!;
  if (connection.outbound.onPubrec(id, connection.version === 5 ? packet.reasonCode : undefined)) return;
  connection.send(connection.ack('pubrel', id, Reason.PacketIdentifierNotFound));
}
