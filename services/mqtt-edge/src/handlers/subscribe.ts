import { decodeMeta } from '@protomesh/envelope';
import { filterToSubjects, isValidTopicFilter, parseSharedSubscription } from '@protomesh/topic-map';
import type { ISubscribePacket, ISubscription } from 'mqtt-packet';
import type { Connection } from '../connection.js';
import { ProtocolViolationError, SessionTakenOverError } from '../errors.js';
import { AUTH_FAILURE } from '../metrics.js';
import { Reason, SUBACK_FAILURE_V3 } from '../reason-codes.js';
import type { SubscriptionOptions } from '../subscriptions.js';
import { toBuffer } from '../subscriptions.js';

/** Largest Subscription Identifier (a Variable Byte Integer, MQTT 5 §3.8.2.1.2). */
const MAX_SUBSCRIPTION_ID = 268_435_455;

interface Plan {
  readonly filter: string;
  /** Failure code when the filter is refused. */
  readonly refused?: number;
  readonly options?: SubscriptionOptions;
  readonly share?: { group: string; filter: string };
  readonly retainHandling: number;
}

/**
 * SUBSCRIBE: one return code per filter, in order [MQTT-3.9.3-1]. A subscription is in place
 * (live taps, a persistent session's durable consumers, shared groups, the session record)
 * before SUBACK, so a message published after the client saw SUBACK reaches it. Then the
 * matching retained messages follow, with RETAIN 1 [MQTT-3.3.1-9], as MQTT 5 Retain
 * Handling says (0 always, 1 only for a new subscription, 2 never) [MQTT-3.3.1-10]
 * [MQTT-3.3.1-11]; shared subscriptions get none.
 */
export function handleSubscribe(connection: Connection, packet: ISubscribePacket): void {
  const v5 = connection.version === 5;
  const failure = v5 ? Reason.UnspecifiedError : SUBACK_FAILURE_V3;
  const id = v5 ? packet.properties?.subscriptionIdentifier : undefined;
  if (id !== undefined && (typeof id !== 'number' || id < 1 || id > MAX_SUBSCRIPTION_ID)) {
    // [MQTT-3.8.2-?] MQTT 5 §3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error.
    connection.fail(new ProtocolViolationError('Subscription Identifier out of range'), Reason.ProtocolError);
    return;
  }
  const plans: Plan[] = [];
  for (const subscription of packet.subscriptions) {
    const plan = planOne(connection, subscription, v5, id);
    if (plan === undefined) return; // the connection was closed
    plans.push(plan);
  }
  const { backbone, logger } = connection.context;
  connection.serially(async () => {
    const granted: number[] = [];
    const retained: Plan[] = [];
    let added = false;
    for (const plan of plans) {
      if (plan.refused !== undefined) {
        granted.push(plan.refused);
        continue;
      }
      try {
        const existed = await connection.subscriptions.add(plan.filter, plan.options!, plan.share);
        added = true;
        granted.push(plan.options!.qos);
        if (!plan.share && (plan.retainHandling === 0 || (plan.retainHandling === 1 && !existed))) retained.push(plan);
      } catch (error) {
        if (SessionTakenOverError.is(error)) throw error;
        logger.warn({ err: error, clientId: connection.clientId, filter: plan.filter }, 'subscription failed');
        granted.push(failure);
      }
    }
    if (added) await backbone.flush().catch(() => undefined);
    connection.send({ cmd: 'suback', messageId: packet.messageId!, granted });
    for (const plan of retained) await sendRetained(connection, plan);
  });
}

/** Validates one filter of a SUBSCRIBE; undefined when the connection had to be closed. */
function planOne(
  connection: Connection,
  subscription: ISubscription,
  v5: boolean,
  id: number | undefined,
): Plan | undefined {
  const filter = subscription.topic;
  const invalid = v5 ? Reason.TopicFilterInvalid : SUBACK_FAILURE_V3;
  const retainHandling = v5 ? (subscription.rh ?? 0) : 0;
  let share: { group: string; filter: string } | undefined;
  try {
    share = parseSharedSubscription(filter);
  } catch {
    return { filter, refused: invalid, retainHandling };
  }
  const inner = share?.filter ?? filter;
  if (!isValidTopicFilter(inner)) return { filter, refused: invalid, retainHandling };
  if (share && v5 && subscription.nl) {
    // [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
    connection.fail(new ProtocolViolationError('No Local on a shared subscription'), Reason.ProtocolError);
    return undefined;
  }
  try {
    filterToSubjects({ prefix: connection.context.settings.prefix, tier: 'mqtt' }, inner);
  } catch {
    // Valid MQTT, but too long for a NATS subject.
    return { filter, refused: invalid, retainHandling };
  }
  if (!connection.context.auth.authorizer.canSubscribe(connection.identity, filter)) {
    connection.context.instruments.authFailures.add(1, AUTH_FAILURE.aclDenied);
    // Denied by the ACL: 0x80 for 3.1.1; MQTT_DENY_SUBSCRIBE_CODE (0x87 by default) for 5.
    return { filter, refused: v5 ? connection.context.settings.denySubscribeCode : SUBACK_FAILURE_V3, retainHandling };
  }
  const options: SubscriptionOptions = {
    qos: Math.min(subscription.qos, 2) as 0 | 1 | 2,
    noLocal: v5 && subscription.nl === true,
    retainAsPublished: v5 && subscription.rap === true,
    ...(id !== undefined && { id }),
  };
  return { filter, options, retainHandling, ...(share && { share }) };
}

/** Sends the retained messages matching a new subscription (RETAIN 1, at most the granted QoS). */
async function sendRetained(connection: Connection, plan: Plan): Promise<void> {
  const { retained, logger } = connection.context;
  let messages: Awaited<ReturnType<typeof retained.lookup>>;
  try {
    messages = await retained.lookup(plan.filter);
  } catch (error) {
    logger.warn({ err: error, clientId: connection.clientId, filter: plan.filter }, 'retained messages not read');
    return;
  }
  const options = plan.options!;
  const now = Date.now();
  for (const message of messages) {
    if (connection.state !== 'connected') return;
    const topic = retained.topicOf(message.subject);
    if (topic === undefined || message.payload.length === 0) continue;
    const meta = decodeMeta(message.headers);
    if (meta.expiresAt !== undefined && meta.expiresAt <= now) continue; // [MQTT-3.3.2-5]
    if (options.noLocal && meta.originTier === 'mqtt' && meta.originClient === connection.clientId) continue;
    connection.enqueue({
      topic,
      payload: toBuffer(message.payload),
      qos: Math.min(meta.qos ?? 0, options.qos) as 0 | 1 | 2,
      retain: true,
      meta,
      ...(options.id !== undefined && { subscriptionIds: [options.id] }),
    });
  }
}
