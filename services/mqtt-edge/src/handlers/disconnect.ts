import type { IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { ProtocolViolationError } from '../errors.js';
import { Reason } from '../reason-codes.js';

/**
 * DISCONNECT from the client: close without a reply. MQTT 5 reason 0x00 discards the Will
 * Message; any other reason (e.g. 0x04) still publishes it [MQTT-3.1.2-10]. An MQTT 5
 * DISCONNECT may change the Session Expiry Interval, but not from 0 to non-zero
 * [MQTT-3.14.2-2].
 */
export function handleDisconnect(connection: Connection, packet: IDisconnectPacket): void {
  const expiry = connection.version === 5 ? packet.properties?.sessionExpiryInterval : undefined;
  if (expiry !== undefined) {
    if (connection.sessionExpiry === 0 && expiry > 0) {
      connection.fail(
        new ProtocolViolationError('DISCONNECT sets a Session Expiry Interval after CONNECT had 0'),
        Reason.ProtocolError,
      );
      return;
    }
    connection.sessionExpiry = Math.min(expiry, connection.context.settings.maxSessionExpiry);
  }
  connection.clientDisconnected(connection.version === 5 ? packet.reasonCode : undefined);
}
