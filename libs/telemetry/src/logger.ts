import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Service name, carried on every line as `service` (omit when children name their service). */
  readonly service?: string;
  readonly level?: string;
  /** Where to write (default stdout). Tests pass a stream to capture lines. */
  readonly destination?: NodeJS.WritableStream;
}

/** A pino JSON logger for one service. One line per lifecycle event, never per message at `info`. */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: options.service ? { service: options.service } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A logger that writes nothing (tests that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
