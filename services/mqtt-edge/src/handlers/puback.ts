import type { IPubackPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/** PUBACK for a QoS 1 delivery: done (whatever the reason code); the identifier is free again. */
export function handlePuback(connection: Connection, packet: IPubackPacket): void {
  connection.outbound.onPuback(packet.messageId!);
}
