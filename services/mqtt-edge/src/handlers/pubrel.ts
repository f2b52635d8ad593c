import type { IPubrelPacket } from 'mqtt-packet';
import type { AckOutcome, Connection } from '../connection.js';
import { Reason } from '../reason-codes.js';

/**
 * PUBREL for an inbound QoS 2 message: forget the packet identifier — in the session record
 * too, before answering, so a later message that reuses the identifier is never taken for a
 * resend — and answer PUBCOMP (MQTT 5 §4.3.3). PUBCOMP is queued behind the pending
 * acknowledgements so it never overtakes the PUBREC of the same identifier. An unknown
 * identifier gets reason 0x92.
 */
export function handlePubrel(connection: Connection, packet: IPubrelPacket): void {
  const id = packet.messageId!;
  const key = String(id);
  const inMemory = connection.inboundQos2.delete(id);
  const inSession = connection.persistent && connection.session!.record.in2[key] !== undefined;
  const known = inMemory || inSession;
  const pubcomp = () => connection.ack('pubcomp', id, known ? Reason.Success : Reason.PacketIdentifierNotFound);
  const outcome: Promise<AckOutcome> = inSession
    ? connection
        .updateSession((record) => {
          delete record.in2[key];
        })
        .then(
          () => ({ send: pubcomp(), done: true }),
          () => undefined, // the session was lost: this connection is closing
        )
    : Promise.resolve({ send: pubcomp(), done: known });
  connection.acknowledgeInOrder(outcome);
}
