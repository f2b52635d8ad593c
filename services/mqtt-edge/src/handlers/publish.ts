import { messageOf } from '@protomesh/errors';
import { SubjectTooLongError, validateTopicName } from '@protomesh/topic-map';
import type { IPublishPacket } from 'mqtt-packet';
import type { AckOutcome, Connection } from '../connection.js';
import { RetainNotSupportedError, StoreFailedError, TopicAliasInvalidError, TopicNameInvalidError } from '../errors.js';
import { ingest } from '../ingest.js';
import { Reason } from '../reason-codes.js';

const TIER = { tier: 'mqtt' } as const;

/**
 * PUBLISH from a client. QoS 0 goes to live subscribers; QoS 1 is acknowledged (PUBACK)
 * only once the backbone stored it; QoS 2 is stored once, answered with PUBREC, and its
 * identifier remembered until PUBREL, so a duplicate PUBLISH is not stored twice
 * (MQTT 5 §4.3.3, method B). When the store fails, an MQTT 5 client gets reason 0x80 and an
 * MQTT 3.1.1 client is disconnected without acknowledgement, so it sends the message again.
 */
export function handlePublish(connection: Connection, packet: IPublishPacket): void {
  const v5 = connection.version === 5;
  const alias = packet.properties?.topicAlias;
  if (alias !== undefined) {
    // Topic Alias Maximum 0 was announced: any alias is invalid (MQTT 5 §3.3.2.3.4).
    connection.fail(new TopicAliasInvalidError(alias), Reason.TopicAliasInvalid);
    return;
  }
  try {
    // [MQTT-3.3.2-2]: no wildcard characters in a topic name.
    validateTopicName(packet.topic);
  } catch (error) {
    connection.fail(
      new TopicNameInvalidError(packet.topic, messageOf(error), { cause: error }),
      Reason.TopicNameInvalid,
    );
    return;
  }
  if (v5 && packet.retain) {
    // Retain Available 0 was announced (MQTT 5 §3.2.2.3.5).
    connection.fail(new RetainNotSupportedError(), Reason.RetainNotSupported);
    return;
  }

  const id = packet.messageId!;
  if (packet.qos === 2) {
    const earlier = connection.inboundQos2.get(id);
    if (earlier) {
      // A resent QoS 2 PUBLISH awaiting PUBREL: acknowledge again, do not store again.
      connection.acknowledgeInOrder(earlier);
      return;
    }
  }

  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const instruments = connection.context.instruments;
  let stored: ReturnType<typeof ingest>;
  try {
    stored = ingest(
      connection.context.backbone,
      connection.context.settings.prefix,
      {
        topic: packet.topic,
        qos: packet.qos,
        retain: packet.retain,
        clientId: connection.clientId,
        properties: packet.properties,
      },
      payload,
    );
  } catch (error) {
    if (SubjectTooLongError.is(error)) {
      // The topic cannot become a subject: longer than a NATS subject may be.
      connection.fail(
        new TopicNameInvalidError(packet.topic, messageOf(error), { cause: error }),
        Reason.TopicNameInvalid,
      );
      return;
    }
    if (packet.qos === 0) {
      // At most once: a QoS 0 message the backbone cannot take right now is dropped.
      instruments.storeFailures.add(1, TIER);
      connection.context.logger.debug({ err: error, clientId: connection.clientId }, 'qos 0 publish dropped');
      return;
    }
    stored = Promise.reject(error);
  }
  instruments.messagesIn.add(1, { ...TIER, qos: packet.qos });
  instruments.bytesIn.add(payload.length, TIER);
  if (!stored) return;

  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  const outcome: Promise<AckOutcome> = stored.then(
    () => ({ send: v5 ? { cmd, messageId: id, reasonCode: Reason.Success } : { cmd, messageId: id } }),
    (error: unknown): AckOutcome => {
      if (packet.qos === 2) connection.inboundQos2.delete(id);
      instruments.storeFailures.add(1, TIER);
      connection.context.logger.debug(
        { err: error, clientId: connection.clientId, topic: packet.topic },
        'publish not stored',
      );
      if (v5) return { send: { cmd, messageId: id, reasonCode: Reason.UnspecifiedError } };
      return {
        fail: new StoreFailedError(packet.topic, messageOf(error), { cause: error }),
        reason: Reason.UnspecifiedError,
      };
    },
  );
  if (packet.qos === 2) connection.inboundQos2.set(id, outcome);
  connection.acknowledgeInOrder(outcome);
}
