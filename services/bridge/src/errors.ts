import { defineError } from '@protomesh/errors';

/**
 * The error catalogue of `@protomesh/bridge`. Codes are stable and never reused; every
 * error is exported from the package index and listed in {@link BRIDGE_ERRORS}.
 */

/** A route definition has a missing or malformed field; the message names the field path. */
export const RouteInvalidError = defineError(
  'PM_BRIDGE_ROUTE_INVALID',
  'RouteInvalidError',
  'A bridge route has a missing or malformed field (id, source tier, source filter or target tier); the message names the field.',
  (path: string, expected: string) => `${path}: ${expected}`,
);

/** Two routes share an id, or ids that map to the same consumer and lease name. */
export const RouteDuplicateError = defineError(
  'PM_BRIDGE_ROUTE_DUPLICATE',
  'RouteDuplicateError',
  'Two bridge routes have the same id, or ids that differ only in characters replaced in consumer and lease names.',
  (path: string, id: string, other: string) =>
    `${path}: route id ${JSON.stringify(id)} clashes with ${JSON.stringify(other)}`,
);

/** Every error of this package, for documentation checks. */
export const BRIDGE_ERRORS = [RouteInvalidError, RouteDuplicateError] as const;
