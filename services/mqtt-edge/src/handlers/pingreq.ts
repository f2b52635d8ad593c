import type { IPingreqPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/** PINGREQ: answer PINGRESP [MQTT-3.12.4-1]; the keep-alive timer was already refreshed. */
export function handlePingreq(connection: Connection, _packet: IPingreqPacket): void {
  connection.send({ cmd: 'pingresp' });
}
