import type { IPubcompPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/** PUBCOMP: the outbound QoS 2 exchange is complete; the identifier is free again. */
export function handlePubcomp(connection: Connection, packet: IPubcompPacket): void {
  connection.outbound.onPubcomp(packet.messageId!, connection.persistent);
}
