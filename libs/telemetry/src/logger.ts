import { context, INVALID_TRACEID, trace } from '@opentelemetry/api';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Service name, carried on every line as `service` (omit when children name their service). */
  readonly service?: string;
  readonly level?: string;
  /** Where to write (default stdout). Tests pass a stream to capture lines. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * pino mixin: `trace_id`, `span_id` and `trace_flags` (OpenTelemetry log data model names)
 * of the span active where the line is written, nothing outside a span. Runs once per log
 * line, and lines are per lifecycle event, so its cost stays off the message path. It returns
 * a fresh object each time: pino merges the line's own fields into it.
 */
export function traceMixin(): object {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (sc.traceId === INVALID_TRACEID) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: sc.traceFlags === 1 ? '01' : '00' };
}

/**
 * A pino JSON logger for one service. One line per lifecycle event, never per message at
 * `info`. Lines written inside an active span carry its `trace_id` and `span_id`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: options.service ? { service: options.service } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceMixin,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A logger that writes nothing (tests that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
