import type { AppendResult, Backbone } from '@protomesh/backbone';
import { encodeMeta } from '@protomesh/envelope';
import { topicToSubject } from '@protomesh/topic-map';
import { type InboundPublish, metaFromPublish } from './properties.js';

/**
 * Hands one message from an MQTT client to the backbone (DESIGN.md "Subject layout"): QoS 0
 * is published to live subscribers only; QoS 1 and 2 are appended to the tier stream and the
 * returned promise settles once it is stored, so the caller acknowledges only then. Payload
 * bytes are passed through untouched. Throws synchronously when the topic cannot become a
 * subject (e.g. longer than a NATS subject may be).
 */
export function ingest(
  backbone: Backbone,
  prefix: string,
  publish: InboundPublish,
  payload: Uint8Array,
): Promise<AppendResult> | undefined {
  const subject = topicToSubject({ prefix, tier: 'mqtt' }, publish.topic, publish.qos === 0 ? '0' : '1');
  const headers = encodeMeta(metaFromPublish(publish, Date.now()));
  if (publish.qos === 0) {
    backbone.publish(subject, payload, headers);
    return undefined;
  }
  return backbone.append(subject, payload, { headers });
}
