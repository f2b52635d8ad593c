import { defineError } from '@protomesh/errors';

/**
 * The error catalogue of `@protomesh/bridge`. Codes are stable and never reused; every
 * error is exported from the package index and listed in {@link BRIDGE_ERRORS}.
 */

/** A route definition has a missing or malformed field; the message names the field path. */
export const RouteInvalidError = defineError(
  'PM_BRIDGE_ROUTE_INVALID',
  'RouteInvalidError',
  'A bridge route has a missing or malformed field (id, tiers, filter, topic template, policies, transform, condition, rate limit); the message names the field path.',
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

/** Routes that would feed each other (or a route its own source) so that a message could loop. */
export const RouteCycleError = defineError(
  'PM_BRIDGE_ROUTE_CYCLE',
  'RouteCycleError',
  'A bridge route writes topics its own filter matches, or (with BRIDGE_MAX_HOPS above 1) routes feed each other in a cycle; the route set is rejected at load time.',
  (path: string, detail: string) => `${path}: ${detail}`,
);

/** The routes file or directory (`BRIDGE_ROUTES`) cannot be read or is not YAML. */
export const RoutesFileError = defineError(
  'PM_BRIDGE_ROUTES_FILE',
  'RoutesFileError',
  'The bridge routes file or directory (BRIDGE_ROUTES) cannot be read or parsed as YAML.',
  (file: string, problem: string) => `${file}: ${problem}`,
);

/** Every error of this package, for documentation checks. */
export const BRIDGE_ERRORS = [RouteInvalidError, RouteDuplicateError, RouteCycleError, RoutesFileError] as const;
