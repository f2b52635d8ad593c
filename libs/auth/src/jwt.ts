/**
 * JWT verification for both edges (an MQTT password, a WebSocket header, query parameter or
 * first frame): HMAC secrets, PEM public keys or certificates, and a JWKS URL with caching.
 * Several keys of each kind may be configured so keys can be rotated without downtime.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { DEFAULT_PERMISSIONS_CLAIM, type Permissions, permissionsFromClaims } from './acl.js';
import {
  JwksUnavailableError,
  JwtConfigInvalidError,
  TokenClaimInvalidError,
  TokenExpiredError,
  TokenInvalidError,
} from './errors.js';

/** How long a fetched JWKS is used before it is fetched again, in ms (jose's default). */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 600_000;
/** Least time between two JWKS fetches triggered by an unknown `kid`, in ms (jose's default). */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** Time allowed for one JWKS HTTP request, in ms (jose's default). */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 5;
/** Longest token accepted, in characters: a bound before any decoding. */
export const MAX_TOKEN_CHARS = 16_384;
/** Shortest HMAC secret, in bytes: RFC 7518 §3.2 asks for a key at least as long as the hash (HS256). */
export const MIN_SECRET_BYTES = 32;
/** The claim read as the username when `usernameClaim` is not set (falls back to `sub`). */
export const DEFAULT_USERNAME_CLAIM = 'preferred_username';
/** The claim read as the client id when `clientIdClaim` is not set (RFC 8693 §4.3). */
export const DEFAULT_CLIENT_ID_CLAIM = 'client_id';

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const OKP_ALGS = ['EdDSA', 'Ed25519'];
const ASYMMETRIC_ALGS = [...RSA_ALGS, 'ES256', 'ES384', 'ES512', ...OKP_ALGS];
const KNOWN_ALGS = new Set([...HMAC_ALGS, ...ASYMMETRIC_ALGS]);

/** Options of {@link createJwtVerifier}; at least one of `secret`, `publicKeys`, `jwksUrl`. */
export interface JwtVerifierOptions {
  /** HMAC secret(s) for HS256/384/512 (UTF-8 string or bytes, at least 32 bytes); several for rotation. */
  readonly secret?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** PEM public keys (SPKI `PUBLIC KEY`, `RSA PUBLIC KEY`) or X.509 `CERTIFICATE`s: RSA (RS*, PS*), EC (ES*), Ed25519. */
  readonly publicKeys?: readonly string[];
  /** A JWKS endpoint (http or https), fetched with caching via jose's `createRemoteJWKSet`. */
  readonly jwksUrl?: string;
  /** JWKS cache lifetime, ms; default {@link DEFAULT_JWKS_CACHE_MAX_AGE_MS}. */
  readonly jwksCacheMaxAgeMs?: number;
  /** Least time between refetches for an unknown `kid`, ms; default {@link DEFAULT_JWKS_COOLDOWN_MS}. */
  readonly jwksCooldownMs?: number;
  /** JWKS request timeout, ms; default {@link DEFAULT_JWKS_TIMEOUT_MS}. */
  readonly jwksTimeoutMs?: number;
  /** Accepted `alg` values; default: every algorithm the configured keys support. `none` is never accepted. */
  readonly algorithms?: readonly string[];
  /** Required `iss` (one of). */
  readonly issuer?: string | readonly string[];
  /** Required `aud` (one of). */
  readonly audience?: string | readonly string[];
  /** Clock skew tolerated, seconds; default {@link DEFAULT_CLOCK_TOLERANCE_SEC}. */
  readonly clockToleranceSec?: number;
  /** Refuse tokens without `exp`; default false. */
  readonly requireExpiry?: boolean;
  /** Claim read as {@link VerifiedToken.username}; default `preferred_username`, then `sub`. */
  readonly usernameClaim?: string;
  /** Claim read as {@link VerifiedToken.clientId}; default `client_id`. */
  readonly clientIdClaim?: string;
  /** Claim carrying `{ pub, sub }` permissions; default `mesh`. */
  readonly permissionsClaim?: string;
}

/** What a verified token says about its holder. */
export interface VerifiedToken {
  /** `sub`. */
  readonly subject?: string;
  /** The username claim (see {@link JwtVerifierOptions.usernameClaim}), else `sub`. */
  readonly username?: string;
  /** The client id claim, when present (an edge may require it to equal the connection's client id). */
  readonly clientId?: string;
  /** `exp` in ms since the epoch: close or ask for a refresh before this. */
  readonly expiresAt?: number;
  /** Every claim of the payload. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Permissions from the permissions claim; undefined when the token has none. */
  readonly permissions?: Permissions;
}

/** Verifies tokens; see {@link createJwtVerifier}. */
export interface JwtVerifier {
  /**
   * Verifies signature and claims. Rejects with {@link TokenInvalidError},
   * {@link TokenExpiredError}, {@link TokenClaimInvalidError} or {@link JwksUnavailableError};
   * their messages are safe to send to the client.
   */
  verify(token: string): Promise<VerifiedToken>;
}

/** A configured public key and the algorithms it can verify. */
interface LocalKey {
  readonly key: KeyObject;
  readonly algorithms: ReadonlySet<string>;
}

function algorithmsOf(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return RSA_ALGS;
    case 'ec': {
      const alg = EC_ALGS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? [] : [alg];
    }
    case 'ed25519':
      return OKP_ALGS;
    default:
      return [];
  }
}

function asList<T>(value: T | readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
}

/** A readable reason for a failed claim check (never quoting the expected value). */
function claimReason(claim: string, reason: string): string {
  if (reason === 'missing') return 'required but missing';
  if (claim === 'nbf') return 'token is not valid yet';
  if (claim === 'iat') return 'issued-at time is not acceptable';
  return 'unexpected value';
}

/**
 * Builds a JWT verifier. Throws {@link JwtConfigInvalidError} for unusable options (no key
 * source, a bad PEM, a private key, a short secret, an unknown algorithm or `none`).
 *
 * A token's `alg` selects the candidate keys: HS* try the secrets; asymmetric algorithms try
 * the matching public keys, then the JWKS (by `kid` when the token has one). The first key
 * whose signature verifies decides; claims are then checked (exp, nbf, iss, aud).
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const secrets = asList(options.secret).map((s, i) => {
    const bytes = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    if (bytes.byteLength < MIN_SECRET_BYTES) {
      const path = Array.isArray(options.secret) ? `secret[${i}]` : 'secret';
      throw new JwtConfigInvalidError(path, `must be at least ${MIN_SECRET_BYTES} bytes (RFC 7518 §3.2)`);
    }
    return bytes;
  });
  const localKeys: LocalKey[] = (options.publicKeys ?? []).map((pem, i) => {
    if (/PRIVATE KEY/.test(pem))
      throw new JwtConfigInvalidError(`publicKeys[${i}]`, 'is a private key; give the public key');
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (error) {
      throw new JwtConfigInvalidError(`publicKeys[${i}]`, 'is not a PEM public key or X.509 certificate', {
        cause: error,
      });
    }
    const algorithms = algorithmsOf(key);
    if (algorithms.length === 0) {
      throw new JwtConfigInvalidError(`publicKeys[${i}]`, `unsupported key type ${key.asymmetricKeyType}`);
    }
    return { key, algorithms: new Set(algorithms) };
  });
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch (error) {
      throw new JwtConfigInvalidError('jwksUrl', 'is not a URL', { cause: error });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new JwtConfigInvalidError('jwksUrl', 'must be an http: or https: URL');
    }
    jwks = createRemoteJWKSet(url, {
      cacheMaxAge: options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      cooldownDuration: options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
      timeoutDuration: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    });
  }
  if (secrets.length === 0 && localKeys.length === 0 && jwks === undefined) {
    throw new JwtConfigInvalidError('(options)', 'give at least one of secret, publicKeys or jwksUrl');
  }

  const supported = new Set<string>();
  if (secrets.length > 0) for (const a of HMAC_ALGS) supported.add(a);
  for (const k of localKeys) for (const a of k.algorithms) supported.add(a);
  if (jwks !== undefined) for (const a of ASYMMETRIC_ALGS) supported.add(a);
  let allowed = supported;
  if (options.algorithms !== undefined) {
    options.algorithms.forEach((a, i) => {
      if (!KNOWN_ALGS.has(a)) throw new JwtConfigInvalidError(`algorithms[${i}]`, `unknown or unsafe algorithm "${a}"`);
    });
    allowed = new Set(options.algorithms.filter((a) => supported.has(a)));
    if (allowed.size === 0)
      throw new JwtConfigInvalidError('algorithms', 'no listed algorithm fits the configured keys');
  }

  const verifyOptions = {
    issuer: options.issuer === undefined ? undefined : asList(options.issuer),
    audience: options.audience === undefined ? undefined : asList(options.audience),
    clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    requiredClaims: options.requireExpiry === true ? ['exp'] : undefined,
  };
  const usernameClaim = options.usernameClaim ?? DEFAULT_USERNAME_CLAIM;
  const clientIdClaim = options.clientIdClaim ?? DEFAULT_CLIENT_ID_CLAIM;
  const permissionsClaim = options.permissionsClaim ?? DEFAULT_PERMISSIONS_CLAIM;

  /** Keys from the JWKS for this header; JWKS failures become JwksUnavailableError. */
  async function* fromJwks(header: JWSHeaderParameters, input: FlattenedJWSInput): AsyncGenerator<unknown> {
    if (jwks === undefined) return;
    let key: unknown;
    try {
      key = await jwks(header, input);
    } catch (error) {
      if (error instanceof errors.JWKSMultipleMatchingKeys) {
        for await (const k of error) yield k;
        return;
      }
      if (error instanceof errors.JWKSNoMatchingKey) return;
      throw new JwksUnavailableError({ cause: error });
    }
    yield key;
  }

  async function* candidates(alg: string, header: JWSHeaderParameters, token: string): AsyncGenerator<unknown> {
    if (HMAC_ALGS.includes(alg)) {
      yield* secrets;
      return;
    }
    for (const k of localKeys) if (k.algorithms.has(alg)) yield k.key;
    const [protectedPart = '', payload = '', signature = ''] = token.split('.');
    yield* fromJwks(header, { protected: protectedPart, payload, signature });
  }

  function toVerified(payload: JWTPayload): VerifiedToken {
    const claims = payload as Record<string, unknown>;
    const str = (name: string): string | undefined =>
      typeof claims[name] === 'string' ? (claims[name] as string) : undefined;
    const permissions = permissionsFromClaims(claims, permissionsClaim);
    return Object.freeze({
      subject: payload.sub,
      username: str(usernameClaim) ?? payload.sub,
      clientId: str(clientIdClaim),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      claims: Object.freeze({ ...claims }),
      permissions,
    });
  }

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
        throw new TokenInvalidError('malformed');
      }
      let header: JWSHeaderParameters;
      try {
        header = decodeProtectedHeader(token) as JWSHeaderParameters;
      } catch (error) {
        throw new TokenInvalidError('malformed', { cause: error });
      }
      if (token.split('.').length !== 3) throw new TokenInvalidError('malformed');
      const alg = header.alg;
      // RFC 8725 §3.1: accept only the algorithms we expect; never "none".
      if (typeof alg !== 'string' || !allowed.has(alg)) {
        throw new TokenInvalidError(`algorithm ${JSON.stringify(String(alg).slice(0, 16))} is not accepted`);
      }
      let tried = 0;
      for await (const key of candidates(alg, header, token)) {
        tried++;
        try {
          const { payload } = await jwtVerify(token, key as Uint8Array, { ...verifyOptions, algorithms: [alg] });
          return toVerified(payload);
        } catch (error) {
          if (error instanceof errors.JWSSignatureVerificationFailed) continue;
          throw mapError(error);
        }
      }
      if (tried === 0) throw new TokenInvalidError('no configured key matches the token');
      throw new TokenInvalidError('signature does not verify');
    },
  };
}

/** Maps a jose error (after a signature verified or failed to parse) to the catalogue. */
function mapError(error: unknown): Error {
  if (error instanceof errors.JWTExpired) {
    const exp = error.payload.exp;
    return new TokenExpiredError(typeof exp === 'number' ? exp * 1000 : undefined, { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new TokenClaimInvalidError(error.claim, claimReason(error.claim, error.reason), { cause: error });
  }
  if (TokenClaimInvalidError.is(error) || JwksUnavailableError.is(error)) return error;
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new TokenInvalidError('algorithm is not accepted', { cause: error });
  if (error instanceof errors.JWTInvalid) return new TokenInvalidError('malformed claims', { cause: error });
  return new TokenInvalidError('malformed', { cause: error });
}

/**
 * True when `value` has the shape of a compact JWS (three base64url parts, the first decoding
 * to a JSON header). For MQTT: tells a JWT-as-password from a password-file password.
 */
export function looksLikeJwt(value: string): boolean {
  if (value.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(value)) return false;
  try {
    decodeProtectedHeader(value);
    return true;
  } catch {
    return false;
  }
}
