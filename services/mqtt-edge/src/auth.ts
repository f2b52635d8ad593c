/**
 * Who may connect, publish and subscribe (`@protomesh/auth`): a JWT given as the MQTT
 * password (HS/RS/ES keys or a JWKS URL), user names and salted password hashes from a file
 * (mosquitto_passwd formats included), anonymous access only when enabled, and per-client
 * ACLs with `%c` / `%u` from the ACL file and from JWT claims.
 */

import { readFile } from 'node:fs/promises';
import {
  type Authorizer,
  createAuthorizer,
  createJwtVerifier,
  type Identity,
  type JwtVerifier,
  loadAclFile,
  loadPasswordFile,
  looksLikeJwt,
  type PasswordFile,
} from '@protomesh/auth';
import type { MeshConfig } from '@protomesh/config';
import { messageOf } from '@protomesh/errors';
import { AuthenticationFailedError, NotAuthorizedError } from './errors.js';

/** What CONNECT carries for authentication. */
export interface Credentials {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
}

/** The access policy of one broker. */
export interface MqttAuth {
  /**
   * Checks CONNECT credentials; resolves with the client's identity or rejects with
   * `AuthenticationFailedError` (MQTT 5 0x86) or `NotAuthorizedError` (0x87).
   */
  authenticate(credentials: Credentials): Promise<Identity>;
  readonly authorizer: Authorizer;
}

/** The policy from explicit parts (tests) or from configuration ({@link loadMqttAuth}). */
export function createMqttAuth(options: {
  readonly allowAnonymous: boolean;
  readonly passwords?: PasswordFile;
  readonly jwt?: JwtVerifier;
  readonly authorizer?: Authorizer;
}): MqttAuth {
  const { allowAnonymous, passwords, jwt } = options;
  const authorizer = options.authorizer ?? createAuthorizer();
  return {
    authorizer,
    async authenticate({ clientId, username, password }) {
      const secret = password?.toString('utf8');
      if (jwt && secret !== undefined && looksLikeJwt(secret)) {
        let token: Awaited<ReturnType<JwtVerifier['verify']>>;
        try {
          token = await jwt.verify(secret);
        } catch (error) {
          throw new AuthenticationFailedError(messageOf(error), { cause: error });
        }
        if (token.clientId !== undefined && token.clientId !== clientId) {
          throw new NotAuthorizedError('connect as', clientId);
        }
        const name = token.username ?? username;
        return {
          clientId,
          ...(name !== undefined && { username: name }),
          ...(token.permissions && { permissions: token.permissions }),
        };
      }
      if (passwords && username !== undefined) {
        if (secret !== undefined && (await passwords.verify(username, secret))) return { clientId, username };
        throw new AuthenticationFailedError('bad user name or password');
      }
      if (allowAnonymous) return { clientId };
      // Credentials a configured mechanism could not verify are bad (0x86); with no mechanism
      // configured, nobody is authorized (0x87).
      if ((username !== undefined || password !== undefined) && (passwords || jwt)) {
        throw new AuthenticationFailedError('bad user name or password');
      }
      throw new NotAuthorizedError('connect as', clientId);
    },
  };
}

/**
 * The policy configured by MQTT_ALLOW_ANONYMOUS (default: on with the embedded backbone only),
 * MQTT_PASSWORD_FILE, MQTT_JWT_* and MQTT_ACL_FILE. Reads the files once, at start-up.
 */
export async function loadMqttAuth(config: MeshConfig): Promise<MqttAuth> {
  const mqtt = config.mqtt;
  const passwords = mqtt.passwordFile === undefined ? undefined : await loadPasswordFile(mqtt.passwordFile);
  const acl = mqtt.aclFile === undefined ? undefined : await loadAclFile(mqtt.aclFile);
  const { secret, publicKeyFile, jwksUrl, issuer, audience } = mqtt.jwt;
  const jwt =
    secret !== undefined || publicKeyFile !== undefined || jwksUrl !== undefined
      ? createJwtVerifier({
          ...(secret !== undefined && { secret }),
          ...(publicKeyFile !== undefined && { publicKeys: [await readFile(publicKeyFile, 'utf8')] }),
          ...(jwksUrl !== undefined && { jwksUrl }),
          ...(issuer !== undefined && { issuer }),
          ...(audience !== undefined && { audience }),
        })
      : undefined;
  return createMqttAuth({
    allowAnonymous: mqtt.allowAnonymous ?? config.nats.url === undefined,
    ...(passwords && { passwords }),
    ...(jwt && { jwt }),
    authorizer: createAuthorizer(acl === undefined ? {} : { acl }),
  });
}
