/**
 * The error catalogue of `@protomesh/auth`. Codes are stable and never reused; each carries a
 * description (checked by `test/unit/errors.test.ts`).
 *
 * Token errors (`PM_AUTH_TOKEN_*`, `PM_AUTH_JWKS_UNAVAILABLE`) have messages that are safe to
 * show the client that presented the token: they never quote keys, secrets, the token itself
 * or the JWKS address. The underlying cause (a jose error, a fetch error) rides in `cause`
 * for server-side logs only.
 */
import { defineError } from '@protomesh/errors';

/** Longest excerpt of an offending value quoted in a message. */
const QUOTE_MAX_CHARS = 80;

/** Quotes a value for an error message, shortened so messages stay log-friendly. */
function quote(value: string): string {
  const short = value.length > QUOTE_MAX_CHARS ? `${value.slice(0, QUOTE_MAX_CHARS)}…` : value;
  return JSON.stringify(short);
}

/** A token is malformed, uses an algorithm that is not accepted, or no configured key verifies it. */
export const TokenInvalidError = defineError(
  'PM_AUTH_TOKEN_INVALID',
  'TokenInvalidError',
  'A JWT is malformed, uses an algorithm that is not accepted (never "none"), or its signature does not verify with any configured key.',
  (reason: string) => `invalid token: ${reason}`,
);

/** A token's `exp` is in the past (beyond the clock tolerance). */
export const TokenExpiredError = defineError(
  'PM_AUTH_TOKEN_EXPIRED',
  'TokenExpiredError',
  'A JWT verified but its "exp" claim is in the past (beyond the configured clock tolerance); the client must obtain a new token.',
  (expiresAt: number | undefined) =>
    expiresAt === undefined ? 'token expired' : `token expired at ${new Date(expiresAt).toISOString()}`,
);

/** A registered or mesh claim of a verified token is not acceptable (iss, aud, nbf, iat, permissions). */
export const TokenClaimInvalidError = defineError(
  'PM_AUTH_TOKEN_CLAIM_INVALID',
  'TokenClaimInvalidError',
  'A JWT verified but a claim is not acceptable: wrong issuer or audience, not yet valid (nbf), a missing required claim, or a malformed permissions claim.',
  (claim: string, reason: string) => `token claim ${quote(claim)} rejected: ${reason}`,
);

/** The JSON Web Key Set could not be fetched or parsed; the token could not be checked. */
export const JwksUnavailableError = defineError(
  'PM_AUTH_JWKS_UNAVAILABLE',
  'JwksUnavailableError',
  'The JSON Web Key Set could not be fetched (network error, timeout, non-200) or is malformed, so the token could not be checked; retry later.',
  () => 'the token signing keys are unavailable; try again later',
);

/** `createJwtVerifier` options are unusable (no key, a bad PEM, an unknown algorithm). */
export const JwtConfigInvalidError = defineError(
  'PM_AUTH_JWT_CONFIG_INVALID',
  'JwtConfigInvalidError',
  'The JWT verifier configuration is unusable: no key source, an unparsable public key or certificate, an unknown or unsafe algorithm, or a bad JWKS URL.',
  (path: string, reason: string) => `${path}: ${reason}`,
);

/** A password file line is malformed or uses an unsupported hash. */
export const PasswordFileInvalidError = defineError(
  'PM_AUTH_PASSWORD_FILE_INVALID',
  'PasswordFileInvalidError',
  'A password file line is not "username:hash" with a supported hash ($scrypt$, mosquitto $6$ or $7$), or a username appears twice.',
  (source: string, line: number, reason: string) => `${source}:${line}: ${reason}`,
);

/** A username cannot be stored in a password file. */
export const UsernameInvalidError = defineError(
  'PM_AUTH_USERNAME_INVALID',
  'UsernameInvalidError',
  'A username for a password file must be non-empty and must not contain ":", a line break or U+0000.',
  (username: string, reason: string) => `invalid username ${quote(username)}: ${reason}`,
);

/** An ACL document is not valid; the message names the path (`users.alice.publish[0]: …`). */
export const AclInvalidError = defineError(
  'PM_AUTH_ACL_INVALID',
  'AclInvalidError',
  'An ACL document (YAML file or object) is invalid: unknown key, wrong type, or an invalid topic filter; the message names the path.',
  (source: string, path: string, reason: string) => `${source}: ${path}: ${reason}`,
);

/** An auth file (password file, ACL file) could not be read. */
export const AuthFileUnreadableError = defineError(
  'PM_AUTH_FILE_UNREADABLE',
  'AuthFileUnreadableError',
  'A password or ACL file could not be read (missing, permissions); the cause carries the system error.',
  (path: string, reason: string) => `cannot read ${quote(path)}: ${reason}`,
);
