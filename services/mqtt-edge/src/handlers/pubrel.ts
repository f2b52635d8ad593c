import type { IPubrelPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { Reason } from '../reason-codes.js';

/**
 * PUBREL for an inbound QoS 2 message: forget the packet identifier and answer PUBCOMP
 * (MQTT 5 §4.3.3). PUBCOMP is queued behind the pending acknowledgements so it never
 * overtakes the PUBREC of the same identifier. An unknown identifier gets reason 0x92.
 */
export function handlePubrel(connection: Connection, packet: IPubrelPacket): void {
  const id = packet.messageId!;
  const known = connection.inboundQos2.delete(id);
  connection.acknowledgeInOrder(
    Promise.resolve({
      send:
        connection.version === 5
          ? { cmd: 'pubcomp', messageId: id, reasonCode: known ? Reason.Success : Reason.PacketIdentifierNotFound }
          : { cmd: 'pubcomp', messageId: id },
    }),
  );
}
