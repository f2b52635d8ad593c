import type { IPubrecPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { Reason } from '../reason-codes.js';

/**
 * PUBREC: this broker sends no QoS 2 deliveries yet, so no identifier can match. Answer as a
 * QoS 2 sender would so the client's state ends: PUBREL, with MQTT 5 reason 0x92 (packet
 * identifier not found).
 */
export function handlePubrec(connection: Connection, packet: IPubrecPacket): void {
  connection.send(
    connection.version === 5
      ? { cmd: 'pubrel', messageId: packet.messageId!, reasonCode: Reason.PacketIdentifierNotFound }
      : { cmd: 'pubrel', messageId: packet.messageId! },
  );
}
