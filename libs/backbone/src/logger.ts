/** The logging surface the backbone needs; a pino logger fits it. */
export interface BackboneLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything, for when none is given. */
export const silentLogger: BackboneLogger = Object.freeze({
  info() {},
  warn() {},
  error() {},
});
