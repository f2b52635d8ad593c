import type { Attributes, Meter } from '@opentelemetry/api';
import type { Backbone } from '@protomesh/backbone';
import { batchedCounter, sampledHistogram } from '@protomesh/telemetry';

/** Upper bounds of `messaging.client.operation.duration`, in seconds (50 µs … 5 s). */
const DURATION_BUCKETS_S = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/**
 * The backbone as a messaging client measured with the OpenTelemetry messaging semantic
 * conventions: `messaging.client.sent.messages`, `messaging.client.consumed.messages` and
 * `messaging.client.operation.duration` (JetStream publish until stored). Each service gets its
 * own wrapper over the shared backbone, so the counts land in that service's metrics.
 * Attribute objects are constants: recording allocates nothing per message, and the SDK sees
 * one call per attribute set and event-loop turn.
 */
export function meteredBackbone(backbone: Backbone, meter: Meter): Backbone {
  const system = backbone.kind === 'nats' ? 'nats' : 'protomesh_embedded';
  // Counted per event-loop turn and sampled once per turn (see telemetry's hot-instruments).
  const sent = batchedCounter(
    meter.createCounter('messaging.client.sent.messages', {
      unit: '{message}',
      description: 'Messages the service sent to the backbone',
    }),
  );
  const consumed = batchedCounter(
    meter.createCounter('messaging.client.consumed.messages', {
      unit: '{message}',
      description: 'Messages the service received from the backbone',
    }),
  );
  const duration = sampledHistogram(
    meter.createHistogram('messaging.client.operation.duration', {
      unit: 's',
      description: 'Time until the backbone stored a message (JetStream publish acknowledged; sampled per turn)',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
  );
  const attrs = (name: string, type: string, extra: Attributes = {}): Attributes =>
    Object.freeze({
      'messaging.system': system,
      'messaging.operation.name': name,
      'messaging.operation.type': type,
      ...extra,
    });
  const PUBLISH = attrs('publish', 'send');
  const APPEND = attrs('append', 'send');
  const APPEND_FAILED = attrs('append', 'send', { 'error.type': 'append_failed' });
  const RECEIVE = attrs('receive', 'receive');
  const CONSUME = attrs('consume', 'receive');

  const metered: Backbone = {
    kind: backbone.kind,
    serverVersion: backbone.serverVersion,
    isReady: () => backbone.isReady(),
    onStatus: (listener) => backbone.onStatus(listener),
    publish(subject, payload, headers) {
      backbone.publish(subject, payload, headers);
      sent.add(1, PUBLISH);
    },
    subscribe: (subject, onMessage, options) =>
      backbone.subscribe(
        subject,
        (message) => {
          consumed.add(1, RECEIVE);
          onMessage(message);
        },
        options,
      ),
    flush: () => backbone.flush(),
    ensureStream: (spec) => backbone.ensureStream(spec),
    streamState: (stream) => backbone.streamState(stream),
    async append(subject, payload, options) {
      const started = performance.now();
      try {
        const result = await backbone.append(subject, payload, options);
        duration.record((performance.now() - started) / 1000, APPEND);
        sent.add(1, APPEND);
        return result;
      } catch (error) {
        duration.record((performance.now() - started) / 1000, APPEND_FAILED);
        throw error;
      }
    },
    getMessage: (stream, seq) => backbone.getMessage(stream, seq),
    consume: (spec, handler) =>
      backbone.consume(spec, (message) => {
        consumed.add(1, CONSUME);
        return handler(message);
      }),
    consumerState: (stream, durable) => backbone.consumerState(stream, durable),
    deleteConsumer: (stream, durable) => backbone.deleteConsumer(stream, durable),
    lastBySubject: (stream, subject) => backbone.lastBySubject(stream, subject),
    lastPerSubject: (stream, filter) => backbone.lastPerSubject(stream, filter),
    purge: (stream, filter) => backbone.purge(stream, filter),
    kv: (spec) => backbone.kv(spec),
    close: () => backbone.close(),
  };
  const readStream = backbone.readStream;
  if (readStream) return { ...metered, readStream: (stream, options) => readStream.call(backbone, stream, options) };
  return metered;
}
