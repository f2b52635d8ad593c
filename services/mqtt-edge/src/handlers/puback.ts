import type { IPubackPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/** PUBACK for a QoS 1 delivery: the packet identifier is free again. */
export function handlePuback(connection: Connection, packet: IPubackPacket): void {
  connection.outboundAcknowledged(packet.messageId!);
}
