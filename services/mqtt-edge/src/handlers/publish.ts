import { randomBytes } from 'node:crypto';
import { messageOf } from '@protomesh/errors';
import { failSpan, injectTraceHeaders, startPublishSpan, traceFromUserProperties } from '@protomesh/telemetry';
import { SubjectTooLongError, validateTopicName } from '@protomesh/topic-map';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { AckOutcome, Connection } from '../connection.js';
import type { Span } from '../delivery-telemetry.js';
import {
  NotAuthorizedError,
  PayloadFormatInvalidError,
  ProtocolViolationError,
  ReceiveMaximumExceededError,
  StoreFailedError,
  TopicAliasInvalidError,
  TopicNameInvalidError,
  TopicReservedError,
} from '../errors.js';
import { AUTH_FAILURE } from '../metrics.js';
import { isValidUtf8 } from '../properties.js';
import { Reason } from '../reason-codes.js';

const TIER = { tier: 'mqtt' } as const;
/** Suffix of a session's inbound QoS 2 nonce once the message is stored. */
const STORED_MARK = ':s';

/**
 * PUBLISH from a client. QoS 0 goes to live subscribers; QoS 1 is acknowledged (PUBACK)
 * only once the backbone stored it; QoS 2 is stored once, answered with PUBREC, and its
 * identifier remembered until PUBREL, so a duplicate PUBLISH is not stored twice (MQTT 5
 * §4.3.3, method B). In a persistent session the identifier is also kept in the session
 * record with the nonce of a JetStream deduplication id, so a resend after a reconnect to
 * any replica is not stored twice either. When the store fails, an MQTT 5 client gets
 * reason 0x80 and an MQTT 3.1.1 client is disconnected without acknowledgement, so it
 * sends the message again.
 */
export function handlePublish(connection: Connection, packet: IPublishPacket): void {
  const v5 = connection.version === 5;
  const settings = connection.context.settings;
  let topic = packet.topic;
  const properties = packet.properties;
  if (v5) {
    if (properties?.subscriptionIdentifier !== undefined) {
      // [MQTT-3.3.4-6]: a client must not send a Subscription Identifier in PUBLISH.
      connection.fail(new ProtocolViolationError('PUBLISH with a Subscription Identifier'), Reason.ProtocolError);
      return;
    }
    const alias = properties?.topicAlias;
    if (alias !== undefined) {
      // [MQTT-3.3.2-8] [MQTT-3.3.2-9]: 0 and values above our Topic Alias Maximum are invalid.
      if (alias === 0 || alias > settings.topicAliasMaximum) {
        connection.fail(new TopicAliasInvalidError(alias, settings.topicAliasMaximum), Reason.TopicAliasInvalid);
        return;
      }
      if (topic.length > 0) {
        connection.topicAliasesIn.set(alias, topic);
      } else {
        const known = connection.topicAliasesIn.get(alias);
        if (known === undefined) {
          // MQTT 5 §3.3.2.3.4: an alias used before it was set is a Protocol Error.
          connection.fail(
            new ProtocolViolationError(`topic alias ${alias} used before it was set`),
            Reason.ProtocolError,
          );
          return;
        }
        topic = known;
      }
    }
  }
  try {
    // [MQTT-3.3.2-1] [MQTT-3.3.2-2]: a non-empty topic name without wildcard characters
    // (a topic the publisher has mapped recently was valid then).
    if (!connection.context.publisher.knows(topic)) validateTopicName(topic);
  } catch (error) {
    connection.fail(new TopicNameInvalidError(topic, messageOf(error), { cause: error }), Reason.TopicNameInvalid);
    return;
  }

  const id = packet.messageId!;
  const qos = packet.qos;
  if (qos === 2) {
    const earlier = connection.inboundQos2.get(id);
    if (earlier) {
      // A resent QoS 2 PUBLISH awaiting PUBREL: acknowledge again, do not store again.
      connection.acknowledgeInOrder(earlier);
      return;
    }
  }
  if (qos > 0) {
    if (v5 && connection.inboundUnacknowledged >= settings.receiveMaximum) {
      // [MQTT-3.3.4-8]: more unacknowledged QoS 1/2 PUBLISH packets than our Receive Maximum.
      connection.fail(new ReceiveMaximumExceededError(settings.receiveMaximum), Reason.ReceiveMaximumExceeded);
      return;
    }
    connection.inboundUnacknowledged += 1;
  }

  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  if (v5 && properties?.payloadFormatIndicator && !isValidUtf8(payload)) {
    // MQTT 5 §3.3.2.3.2: Payload Format Indicator 1 with a payload that is not UTF-8 (0x99).
    const error = new PayloadFormatInvalidError(topic);
    if (qos === 0) connection.fail(error, Reason.PayloadFormatInvalid);
    else refuse(connection, qos, id, Reason.PayloadFormatInvalid, error.message);
    return;
  }
  if (topic.startsWith('$')) {
    // Topics starting with $ belong to the broker ($SYS …) [MQTT-4.7.2-1]: refused, never stored.
    const error = new TopicReservedError(topic);
    connection.context.instruments.protocolErrors.add(1, { ...TIER, code: error.code });
    if (qos !== 0) refuse(connection, qos, id, Reason.NotAuthorized, error.message);
    return;
  }

  if (!connection.context.auth.authorizer.canPublish(connection.identity, topic)) {
    // Denied by the ACL: MQTT 5 gets 0x87; MQTT 3.1.1 has no negative acknowledgement, so
    // the message is acknowledged and dropped (as Mosquitto does).
    const error = new NotAuthorizedError('publish to', topic);
    connection.context.instruments.protocolErrors.add(1, { ...TIER, code: error.code });
    connection.context.instruments.authFailures.add(1, AUTH_FAILURE.aclDenied);
    if (qos !== 0) refuse(connection, qos, id, Reason.NotAuthorized, error.message);
    return;
  }

  const instruments = connection.context.instruments;
  // One PRODUCER span per client PUBLISH, child of the trace the client sent in its MQTT 5
  // user properties; with tracing off the client's trace context is forwarded as it is.
  const tracing = connection.context.tracing;
  const carried = v5 ? traceFromUserProperties(properties?.userProperties) : undefined;
  let span: Span | undefined;
  if (tracing.enabled) {
    span = startPublishSpan(tracing, {
      system: 'mqtt',
      destination: topic,
      clientId: connection.clientId,
      qos,
      tier: 'mqtt',
      bodySize: payload.length,
      parent: carried,
    });
  }
  const trace = span ? injectTraceHeaders(span) : carried;
  const session = qos === 2 && connection.persistent ? connection.session : undefined;
  let stored: Promise<void> | undefined;
  const publish = {
    topic,
    qos,
    retain: packet.retain,
    clientId: connection.clientId,
    properties: properties && forwardable(properties),
  };
  try {
    if (session) {
      // Persistent QoS 2: keep the identifier with a nonce first, store under a deduplication
      // id made from it, and mark it stored before PUBREC. A resend on any replica then finds
      // the mark and stores nothing; without it (a crash between store and mark), the stream
      // deduplicates the second append.
      const key = String(id);
      const known = session.record.in2[key];
      if (known?.endsWith(STORED_MARK)) {
        stored = Promise.resolve();
      } else {
        const nonce = known ?? randomBytes(8).toString('hex');
        const ready = known
          ? Promise.resolve()
          : connection.updateSession((record) => {
              record.in2[key] = nonce;
            });
        stored = ready
          .then(() => connection.context.publisher.publish(publish, payload, { msgId: `q2-${nonce}`, trace }))
          .then(() =>
            connection.updateSession((record) => {
              if (record.in2[key] === nonce) record.in2[key] = `${nonce}${STORED_MARK}`;
            }),
          );
      }
    } else {
      stored = connection.context.publisher.publish(publish, payload, { trace });
    }
  } catch (error) {
    if (span) failSpan(span, error);
    if (SubjectTooLongError.is(error)) {
      // The topic cannot become a subject: longer than a NATS subject may be.
      connection.fail(new TopicNameInvalidError(topic, messageOf(error), { cause: error }), Reason.TopicNameInvalid);
      return;
    }
    if (qos === 0) {
      // At most once: a QoS 0 message the backbone cannot take right now is dropped.
      instruments.storeFailures.add(1, TIER);
      connection.context.logger.debug({ err: error, clientId: connection.clientId }, 'qos 0 publish dropped');
      return;
    }
    stored = Promise.reject(error);
  }
  connection.context.counts.in(qos, payload.length);
  if (span) {
    const done = span;
    if (stored)
      stored.then(
        () => done.end(),
        (error: unknown) => failSpan(done, error),
      );
    else done.end();
  }
  if (qos === 0) {
    // A QoS 0 RETAIN store is not acknowledged; a failure is only counted.
    stored?.catch((error: unknown) => {
      instruments.storeFailures.add(1, TIER);
      connection.context.logger.debug({ err: error, clientId: connection.clientId }, 'retained message not stored');
    });
    return;
  }

  const cmd = qos === 1 ? 'puback' : 'pubrec';
  const outcome: Promise<AckOutcome> = (stored ?? Promise.resolve()).then(
    () => ({ send: connection.ack(cmd, id), done: qos === 1 }),
    (error: unknown): AckOutcome => {
      if (qos === 2) connection.inboundQos2.delete(id);
      instruments.storeFailures.add(1, TIER);
      connection.context.logger.debug({ err: error, clientId: connection.clientId, topic }, 'publish not stored');
      if (v5) {
        return {
          send: connection.ack(cmd, id, Reason.UnspecifiedError, 'the message could not be stored'),
          done: true,
        };
      }
      return {
        fail: new StoreFailedError(topic, messageOf(error), { cause: error }),
        reason: Reason.UnspecifiedError,
      };
    },
  );
  if (qos === 2) connection.inboundQos2.set(id, outcome);
  connection.acknowledgeInOrder(outcome);
}

/**
 * Answers a QoS 1/2 PUBLISH that is not stored: MQTT 5 gets the failure reason (which ends a
 * QoS 2 flow); MQTT 3.1.1 has no negative acknowledgement, so the flow completes normally
 * and the message is dropped.
 */
export function refuse(connection: Connection, qos: 1 | 2, id: number, reasonCode: number, reasonString: string): void {
  const v5 = connection.version === 5;
  const cmd = qos === 1 ? 'puback' : 'pubrec';
  const send: Packet = v5 ? connection.ack(cmd, id, reasonCode, reasonString) : connection.ack(cmd, id);
  const outcome: Promise<AckOutcome> = Promise.resolve({ send, done: qos === 1 || v5 });
  if (qos === 2 && !v5) connection.inboundQos2.set(id, outcome);
  connection.acknowledgeInOrder(outcome);
}

/** PUBLISH properties that travel with the message (the Topic Alias is per connection). */
function forwardable(properties: NonNullable<IPublishPacket['properties']>): IPublishPacket['properties'] {
  const { topicAlias: _alias, subscriptionIdentifier: _ids, ...rest } = properties;
  return rest;
}
