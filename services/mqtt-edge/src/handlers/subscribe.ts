import { filterToSubjects, isValidTopicFilter } from '@protomesh/topic-map';
import type { ISubscribePacket, ISubscription } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { SubscriptionIdentifiersNotSupportedError } from '../errors.js';
import { Reason, SUBACK_FAILURE_V3 } from '../reason-codes.js';

/** Highest QoS granted: outbound QoS 2 comes in a later version. */
const MAX_GRANTED_QOS = 1;
const SHARE_PREFIX = '$share/';

/**
 * SUBSCRIBE: one return code per filter, in order [MQTT-3.9.3-1]. Each valid filter becomes
 * the backbone subjects of `filterToSubjects`, shared through the broker's fan-out. SUBACK
 * waits until the backbone has registered new subscriptions, so a message published after
 * the client saw SUBACK reaches it.
 */
export function handleSubscribe(connection: Connection, packet: ISubscribePacket): void {
  const v5 = connection.version === 5;
  if (v5 && packet.properties?.subscriptionIdentifier !== undefined) {
    // Subscription Identifiers Available 0 was announced (MQTT 5 §3.8.2.1.2).
    connection.fail(new SubscriptionIdentifiersNotSupportedError(), Reason.SubscriptionIdentifiersNotSupported);
    return;
  }
  const { fanout, backbone, settings, logger } = connection.context;
  const before = fanout.subscriptions;
  const granted = packet.subscriptions.map((subscription) =>
    subscribeOne(connection, subscription, settings.prefix, v5),
  );
  const reply = () => connection.send({ cmd: 'suback', messageId: packet.messageId!, granted });
  if (fanout.subscriptions === before) {
    reply();
    return;
  }
  backbone.flush().then(reply, (error: unknown) => {
    logger.debug({ err: error, clientId: connection.clientId }, 'backbone flush before SUBACK failed');
    reply();
  });
}

/** Subscribes one filter; returns its SUBACK code (granted QoS or a failure code). */
function subscribeOne(connection: Connection, subscription: ISubscription, prefix: string, v5: boolean): number {
  const filter = subscription.topic;
  if (filter.startsWith(SHARE_PREFIX)) return v5 ? Reason.SharedSubscriptionsNotSupported : SUBACK_FAILURE_V3;
  if (!isValidTopicFilter(filter)) return v5 ? Reason.TopicFilterInvalid : SUBACK_FAILURE_V3;
  let subjects: string[];
  try {
    subjects = filterToSubjects({ prefix, tier: 'mqtt' }, filter);
  } catch {
    // Valid MQTT, but too long for a NATS subject.
    return v5 ? Reason.TopicFilterInvalid : SUBACK_FAILURE_V3;
  }
  const qos = Math.min(subscription.qos, MAX_GRANTED_QOS) as 0 | 1;
  connection.subscribe(filter, subjects, {
    qos,
    noLocal: v5 && subscription.nl === true,
    retainAsPublished: v5 && subscription.rap === true,
  });
  return qos;
}
