/**
 * MQTT 5 PUBLISH properties ↔ mesh message metadata (`@protomesh/envelope`). Every property
 * a subscriber must receive unaltered travels in headers: Payload Format Indicator
 * [MQTT-3.3.2-4], Content Type, Response Topic, Correlation Data and User Properties in order
 * [MQTT-3.3.2-17] [MQTT-3.3.2-18]. Message Expiry becomes an absolute time so any replica can
 * compute what is left.
 */
import { isUtf8 } from 'node:buffer';
import type { MessageMeta } from '@protomesh/envelope';
import type { IPublishPacket, QoS, UserProperties } from 'mqtt-packet';

/** The MQTT 5 properties of a PUBLISH packet. */
export type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** mqtt-packet's user-property object (a repeated name holds an array) → ordered pairs. */
export function userPropertiesToPairs(properties: UserProperties): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  // mqtt-packet groups repeated names under the first occurrence; keys keep insertion order.
  for (const name of Object.keys(properties)) {
    const value = properties[name]!;
    if (Array.isArray(value)) for (const one of value) pairs.push([name, String(one)]);
    else pairs.push([name, String(value)]);
  }
  return pairs;
}

/** Ordered pairs → mqtt-packet's user-property object (null prototype: any name is safe). */
export function pairsToUserProperties(pairs: ReadonlyArray<readonly [string, string]>): UserProperties {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of pairs) {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

/** What the mesh records about a message an MQTT client published. */
export interface InboundPublish {
  readonly topic: string;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly clientId: string;
  readonly properties: PublishProperties | undefined;
}

/** Metadata for a PUBLISH received at `now` (epoch ms). */
export function metaFromPublish(publish: InboundPublish, now: number): MessageMeta {
  const p = publish.properties;
  return {
    originTier: 'mqtt',
    originClient: publish.clientId,
    qos: publish.qos,
    retain: publish.retain,
    ...(p && {
      contentType: p.contentType,
      payloadFormat: p.payloadFormatIndicator === undefined ? undefined : p.payloadFormatIndicator ? 1 : 0,
      expiresAt: p.messageExpiryInterval === undefined ? undefined : now + p.messageExpiryInterval * 1000,
      userProperties: p.userProperties ? userPropertiesToPairs(p.userProperties) : undefined,
      responseTopic: p.responseTopic,
      correlationData: p.correlationData,
    }),
  };
}

/**
 * MQTT 5 PUBLISH properties for a delivery at `now` (epoch ms); undefined when there are
 * none. The Message Expiry Interval is what is left of the original [MQTT-3.3.2-6], rounded
 * up to whole seconds (the caller drops messages already expired).
 */
export function publishPropertiesFromMeta(meta: MessageMeta, now: number): PublishProperties | undefined {
  const out: PublishProperties = {};
  let any = false;
  if (meta.payloadFormat !== undefined) {
    out.payloadFormatIndicator = meta.payloadFormat === 1;
    any = true;
  }
  if (meta.expiresAt !== undefined) {
    out.messageExpiryInterval = Math.max(1, Math.ceil((meta.expiresAt - now) / 1000));
    any = true;
  }
  if (meta.contentType !== undefined) {
    out.contentType = meta.contentType;
    any = true;
  }
  if (meta.responseTopic !== undefined) {
    out.responseTopic = meta.responseTopic;
    any = true;
  }
  if (meta.correlationData !== undefined) {
    out.correlationData = Buffer.from(
      meta.correlationData.buffer,
      meta.correlationData.byteOffset,
      meta.correlationData.byteLength,
    );
    any = true;
  }
  if (meta.userProperties !== undefined && meta.userProperties.length > 0) {
    out.userProperties = pairsToUserProperties(meta.userProperties);
    any = true;
  }
  return any ? out : undefined;
}

/** True when `bytes` are well-formed UTF-8 (MQTT 5 Payload Format Indicator 1, §3.3.2.3.2). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
