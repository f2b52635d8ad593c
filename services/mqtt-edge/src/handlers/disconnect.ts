import type { IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/**
 * DISCONNECT from the client: close without a reply. MQTT 5 reason 0x00 discards the Will
 * Message; any other reason (e.g. 0x04) still publishes it [MQTT-3.1.2-10].
 */
export function handleDisconnect(connection: Connection, packet: IDisconnectPacket): void {
  connection.clientDisconnected(connection.version === 5 ? packet.reasonCode : undefined);
}
