import type { IUnsubscribePacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { Reason } from '../reason-codes.js';

/**
 * UNSUBSCRIBE: removes each filter that exists (live taps, a persistent session's durable
 * consumers, the session record) and always answers UNSUBACK [MQTT-3.10.4-4]
 * [MQTT-3.10.4-5]; MQTT 5 carries one reason per filter (0x00 removed, 0x11 no subscription
 * existed).
 */
export function handleUnsubscribe(connection: Connection, packet: IUnsubscribePacket): void {
  connection.serially(async () => {
    const reasons: number[] = [];
    for (const filter of packet.unsubscriptions) {
      reasons.push((await connection.subscriptions.remove(filter)) ? Reason.Success : Reason.NoSubscriptionExisted);
    }
    connection.send(
      connection.version === 5
        ? { cmd: 'unsuback', messageId: packet.messageId!, granted: reasons }
        : { cmd: 'unsuback', messageId: packet.messageId!, granted: [] },
    );
  });
}
