/**
 * Authentication and authorization of WebSocket clients with `@protomesh/auth`: JWTs
 * (HMAC secret, PEM public key, JWKS with caching) verified into an {@link Access}, with
 * per-topic permissions from the token's claims (or the ACL file when it carries none).
 */
import { readFileSync } from 'node:fs';
import {
  type AclRules,
  type Authorizer,
  createAuthorizer,
  createJwtVerifier,
  type Identity,
  type JwtVerifier,
  parseAcl,
  TokenExpiredError,
} from '@protomesh/auth';
import type { MeshConfig } from '@protomesh/config';
import { messageOf } from '@protomesh/errors';
import { type Access, ANONYMOUS_ACCESS, type Authenticator } from './access.js';
import { UnauthorizedError } from './errors.js';

/** Verifies JWTs into {@link Access}: who, until when, and which topics. */
export class JwtAuthenticator implements Authenticator {
  readonly #verifier: JwtVerifier;
  readonly #authorizer: Authorizer;

  constructor(verifier: JwtVerifier, authorizer: Authorizer) {
    this.#verifier = verifier;
    this.#authorizer = authorizer;
  }

  /** Rejects with {@link UnauthorizedError} (its message is safe to show the client). */
  async verify(token: string): Promise<Access> {
    let verified: Awaited<ReturnType<JwtVerifier['verify']>>;
    try {
      verified = await this.#verifier.verify(token);
    } catch (error) {
      throw new UnauthorizedError(messageOf(error), { cause: error });
    }
    const principal = verified.subject ?? verified.username;
    const identity: Identity = {
      clientId: verified.clientId ?? principal ?? '',
      username: verified.username,
      permissions: verified.permissions,
    };
    return authorizedAccess(this.#authorizer, identity, principal, verified.expiresAt);
  }
}

/**
 * The `reason` of `protomesh_auth_failures_total` for a refused token: `expired` when the
 * verifier said so (anywhere in the `cause` chain), else `bad_credentials`.
 */
export function tokenFailureReason(error: unknown): 'expired' | 'bad_credentials' {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 8; at = at.cause, depth += 1) {
    if (TokenExpiredError.is(at)) return 'expired';
  }
  return 'bad_credentials';
}

function authorizedAccess(
  authorizer: Authorizer,
  identity: Identity,
  principal: string | undefined,
  expiresAt: number | undefined,
): Access {
  return {
    principal,
    expiresAt,
    canPublish: (topic) => authorizer.canPublish(identity, topic),
    canSubscribe: (filter) => authorizer.canSubscribe(identity, filter),
  };
}

/** What `config.ws` says about credentials, ready for the edge. */
export interface WsAuthSetup {
  /** Undefined when no JWT key source is configured. */
  readonly authenticator: Authenticator | undefined;
  /** Anonymous clients allowed (WS_ALLOW_ANONYMOUS; default: only without NATS_URL). */
  readonly allowAnonymous: boolean;
  /** What an anonymous client may do (the ACL file's anonymous rules, else everything). */
  readonly anonymousAccess: Access;
  /** Allowed `Origin` values; undefined = any. */
  readonly allowedOrigins: readonly string[] | undefined;
}

/** Builds the authentication setup from configuration (throws on unusable key settings, naming them). */
export function wsAuthSetup(config: MeshConfig): WsAuthSetup {
  const { jwt } = config.ws;
  let acl: AclRules | undefined;
  if (config.ws.aclFile !== undefined) acl = parseAcl(readFileSync(config.ws.aclFile, 'utf8'), config.ws.aclFile);
  const authorizer = createAuthorizer({ acl });
  let authenticator: Authenticator | undefined;
  if (jwt.secret !== undefined || jwt.publicKeyFile !== undefined || jwt.jwksUrl !== undefined) {
    const verifier = createJwtVerifier({
      secret: jwt.secret,
      publicKeys: jwt.publicKeyFile === undefined ? undefined : [readFileSync(jwt.publicKeyFile, 'utf8')],
      jwksUrl: jwt.jwksUrl,
      issuer: jwt.issuer,
      audience: jwt.audience,
    });
    authenticator = new JwtAuthenticator(verifier, authorizer);
  }
  const origins = config.ws.allowedOrigins?.split(',').map((origin) => origin.trim());
  return {
    authenticator,
    allowAnonymous: config.ws.allowAnonymous ?? config.nats.url === undefined,
    anonymousAccess:
      acl === undefined ? ANONYMOUS_ACCESS : authorizedAccess(authorizer, { clientId: '' }, undefined, undefined),
    allowedOrigins: origins === undefined || origins.includes('*') ? undefined : origins,
  };
}
