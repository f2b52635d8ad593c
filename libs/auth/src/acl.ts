/**
 * Topic ACLs: per-user, per-client-pattern and default publish/subscribe rules from a YAML
 * file, permissions carried by JWT claims, and the authorizer the edges ask on every PUBLISH
 * and SUBSCRIBE.
 *
 * Rule filters are MQTT topic filters in which a whole level may be `%c` (the client id) or
 * `%u` (the username), substituted per client as Mosquitto's `pattern` lines do. A substituted
 * value that could widen access (empty, containing `/`, `+`, `#` or U+0000, or starting with
 * `$`) disables the rule for that client instead of being inserted.
 */
import { readFile } from 'node:fs/promises';
import { isValidTopicFilter, parseSharedSubscription, topicMatches } from '@protomesh/topic-map';
import { parse as parseYaml } from 'yaml';
import { AclInvalidError, AuthFileUnreadableError, TokenClaimInvalidError } from './errors.js';
import { filterCovers } from './filter-covers.js';

/** Topic filters a client may publish to and subscribe to (may hold `%c` / `%u` levels). */
export interface Permissions {
  /** Filters a published topic name must match. */
  readonly publish: readonly string[];
  /** Filters one of which must cover a requested subscription filter entirely. */
  readonly subscribe: readonly string[];
}

/** Who is asking: one object per connection (the authorizer caches per object; treat it as immutable). */
export interface Identity {
  /** The MQTT client id or WebSocket connection's client id (substituted for `%c`). */
  readonly clientId: string;
  /** The authenticated username, if any (substituted for `%u`; absent means anonymous). */
  readonly username?: string;
  /** Permissions from the client's token (`VerifiedToken.permissions`), if it carried any. */
  readonly permissions?: Permissions;
}

/** One `clients:` entry: a client id glob (`*` matches any run of characters) and its rules. */
export interface ClientRule {
  /** The glob as written in the file. */
  readonly pattern: string;
  /** The rules granted to every client id the glob matches. */
  readonly permissions: Permissions;
}

/** A validated, frozen ACL document (see {@link parseAcl}). */
export interface AclRules {
  /** Granted to every client. */
  readonly default: Permissions;
  /** Granted to clients without a username. */
  readonly anonymous: Permissions;
  /** Granted by username. */
  readonly users: ReadonlyMap<string, Permissions>;
  /** Granted by client id glob. */
  readonly clients: readonly ClientRule[];
}

/** No permission at all. */
export const NO_PERMISSIONS: Permissions = Object.freeze({ publish: Object.freeze([]), subscribe: Object.freeze([]) });

/** The JWT claim that carries permissions unless configured otherwise. */
export const DEFAULT_PERMISSIONS_CLAIM = 'mesh';

const TOP_KEYS = ['default', 'anonymous', 'users', 'clients'];
const RULE_KEYS = ['publish', 'subscribe'];
const PLACEHOLDER = /%[cu]/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `parent.key` or `parent["odd key"]`, for error paths. */
function childPath(parent: string, key: string): string {
  const step = IDENTIFIER.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (parent === '') return step;
  return step.startsWith('[') ? `${parent}${step}` : `${parent}.${step}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The problem with a rule filter (template levels allowed), or undefined when it is valid. */
function ruleFilterProblem(filter: string): string | undefined {
  if (filter.startsWith('$share/'))
    return 'a shared subscription is not a rule; grant the filter after "$share/<group>/"';
  for (const level of filter.split('/')) {
    if (PLACEHOLDER.test(level) && level !== '%c' && level !== '%u') {
      return '"%c" and "%u" must each be a whole topic level';
    }
  }
  // Substitute a harmless value to validate the rest of the filter.
  if (!isValidTopicFilter(filter.replace(/(^|\/)%[cu](?=\/|$)/g, '$1x'))) return 'not a valid MQTT topic filter';
  return undefined;
}

/** Validates a list of rule filters at `path`, reporting through `fail`. */
function filterList(value: unknown, path: string, fail: (path: string, reason: string) => never): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(path, 'must be a list of topic filters');
  return value.map((item, i) => {
    const itemPath = `${path}[${i}]`;
    if (typeof item !== 'string') fail(itemPath, 'must be a string');
    const problem = ruleFilterProblem(item);
    if (problem !== undefined) fail(itemPath, `${problem}: ${JSON.stringify(item.slice(0, 80))}`);
    return item;
  });
}

function freezePermissions(publish: string[], subscribe: string[]): Permissions {
  return Object.freeze({ publish: Object.freeze(publish), subscribe: Object.freeze(subscribe) });
}

/** Validates one `{ publish, subscribe }` rule object. */
function ruleAt(value: unknown, path: string, fail: (path: string, reason: string) => never): Permissions {
  if (value === undefined || value === null) return NO_PERMISSIONS;
  if (!isPlainObject(value)) fail(path, 'must be a mapping with "publish" and/or "subscribe"');
  for (const key of Object.keys(value)) {
    if (!RULE_KEYS.includes(key)) fail(childPath(path, key), 'unknown key (expected "publish" or "subscribe")');
  }
  return freezePermissions(
    filterList(value.publish, childPath(path, 'publish'), fail),
    filterList(value.subscribe, childPath(path, 'subscribe'), fail),
  );
}

/** Compiles a client id glob: `*` matches any run of characters, everything else is literal. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

/**
 * Validates an ACL document already parsed from YAML or JSON and returns frozen rules:
 * `{ default?, anonymous?, users?: { <name>: rule }, clients?: { <glob>: rule } }` where a
 * rule is `{ publish?: string[], subscribe?: string[] }`. Throws {@link AclInvalidError}
 * naming the path (`users.alice.publish[0]: …`) and `source` (a file name, for messages).
 */
export function aclFromObject(value: unknown, source = 'acl'): AclRules {
  const fail = (path: string, reason: string): never => {
    throw new AclInvalidError(source, path === '' ? '(document)' : path, reason);
  };
  if (value === undefined || value === null) value = {};
  if (!isPlainObject(value)) fail('', 'must be a mapping with default, anonymous, users and clients');
  const doc = value as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.includes(key)) fail(childPath('', key), `unknown key (expected one of ${TOP_KEYS.join(', ')})`);
  }
  const sections = (key: 'users' | 'clients'): [string, unknown][] => {
    const section = doc[key];
    if (section === undefined || section === null) return [];
    if (!isPlainObject(section)) fail(key, 'must be a mapping');
    return Object.entries(section as Record<string, unknown>);
  };
  const users = new Map<string, Permissions>();
  for (const [name, rule] of sections('users')) users.set(name, ruleAt(rule, childPath('users', name), fail));
  const clients: ClientRule[] = [];
  const matchers: RegExp[] = [];
  for (const [pattern, rule] of sections('clients')) {
    if (pattern === '') fail('clients', 'a client id pattern must not be empty');
    clients.push(Object.freeze({ pattern, permissions: ruleAt(rule, childPath('clients', pattern), fail) }));
    matchers.push(globToRegExp(pattern));
  }
  const rules: AclRules = Object.freeze({
    default: ruleAt(doc.default, 'default', fail),
    anonymous: ruleAt(doc.anonymous, 'anonymous', fail),
    users,
    clients: Object.freeze(clients),
  });
  CLIENT_MATCHERS.set(rules, matchers);
  return rules;
}

/** Compiled client globs, kept beside the public (frozen) rules. */
const CLIENT_MATCHERS = new WeakMap<AclRules, RegExp[]>();

/**
 * Parses and validates an ACL document written in YAML (JSON is YAML too). Example:
 * ```yaml
 * default: { publish: [], subscribe: ['public/#'] }
 * anonymous: { subscribe: ['demo/#'] }
 * users: { alice: { publish: ['devices/%c/#'], subscribe: ['devices/%c/#', 'alerts/+'] } }
 * clients: { 'dash-*': { subscribe: ['#'] } }
 * ```
 * Throws {@link AclInvalidError} (YAML syntax errors and duplicate keys included).
 */
export function parseAcl(text: string, source = 'acl'): AclRules {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw new AclInvalidError(source, '(yaml)', (error as Error).message, { cause: error });
  }
  return aclFromObject(value, source);
}

/** Reads and parses an ACL file (see {@link parseAcl}); throws {@link AuthFileUnreadableError} or {@link AclInvalidError}. */
export async function loadAclFile(path: string): Promise<AclRules> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AuthFileUnreadableError(path, (error as NodeJS.ErrnoException).code ?? 'read failed', { cause: error });
  }
  return parseAcl(text, path);
}

/**
 * Reads permissions from JWT claims: `claims[claimName]` as `{ pub: [...], sub: [...] }` (or
 * `{ publish, subscribe }`; both spellings are merged). Returns undefined when the claim is
 * absent, so "no claim" can fall back to the ACL file. Throws {@link TokenClaimInvalidError}
 * when the claim is present but malformed (the message names the path, e.g. `mesh.pub[1]`).
 */
export function permissionsFromClaims(
  claims: Readonly<Record<string, unknown>>,
  claimName: string = DEFAULT_PERMISSIONS_CLAIM,
): Permissions | undefined {
  const value = claims[claimName];
  if (value === undefined) return undefined;
  const fail = (path: string, reason: string): never => {
    throw new TokenClaimInvalidError(claimName, `${path}: ${reason}`);
  };
  if (!isPlainObject(value)) fail(claimName, 'must be an object with "pub" and/or "sub" lists');
  const claim = value as Record<string, unknown>;
  const publish = [
    ...filterList(claim.pub, `${claimName}.pub`, fail),
    ...filterList(claim.publish, `${claimName}.publish`, fail),
  ];
  const subscribe = [
    ...filterList(claim.sub, `${claimName}.sub`, fail),
    ...filterList(claim.subscribe, `${claimName}.subscribe`, fail),
  ];
  return freezePermissions(publish, subscribe);
}

/** A value that may replace `%c` / `%u`: non-empty, no level separator or wildcard, no U+0000, no leading `$`. */
function isSafeSubstitution(value: string | undefined): value is string {
  return value !== undefined && value.length > 0 && !/[/+#\0]/.test(value) && !value.startsWith('$');
}

/**
 * Substitutes `%c` / `%u` levels of rule filters for one client. A filter whose placeholder has
 * no safe value (see module comment) is dropped: a client id like `a/#` must not widen access.
 */
export function substitutePermissions(permissions: Permissions, identity: Identity): Permissions {
  const { clientId, username } = identity;
  const one = (filter: string): string | undefined => {
    if (!filter.includes('%')) return filter;
    const levels = filter.split('/');
    for (let i = 0; i < levels.length; i++) {
      if (levels[i] === '%c') {
        if (!isSafeSubstitution(clientId)) return undefined;
        levels[i] = clientId;
      } else if (levels[i] === '%u') {
        if (!isSafeSubstitution(username)) return undefined;
        levels[i] = username;
      }
    }
    return levels.join('/');
  };
  const list = (filters: readonly string[]): string[] => filters.map(one).filter((f): f is string => f !== undefined);
  return freezePermissions(list(permissions.publish), list(permissions.subscribe));
}

/** How token permissions combine with ACL file rules. */
export type TokenPermissionsMode = 'replace' | 'union';

/** Options of {@link createAuthorizer}. */
export interface AuthorizerOptions {
  /**
   * ACL file rules (from {@link loadAclFile} / {@link parseAcl}). Without rules, a client whose
   * identity carries no token permissions may publish and subscribe to everything.
   */
  readonly acl?: AclRules;
  /**
   * `'replace'` (default): a client whose token carries permissions gets exactly those.
   * `'union'`: it gets those plus what the ACL file grants it.
   */
  readonly tokenPermissions?: TokenPermissionsMode;
}

/** Answers publish and subscribe checks; cheap to call per message (results cached per identity object). */
export interface Authorizer {
  /** True when the client may publish to the topic name (assumed valid). */
  canPublish(identity: Identity, topic: string): boolean;
  /**
   * True when an allowed subscribe filter covers `filter` entirely (see {@link filterCovers}).
   * For `$share/<group>/<f>` the inner filter `<f>` is checked; a malformed one is refused.
   */
  canSubscribe(identity: Identity, filter: string): boolean;
  /** The client's effective permissions after substitution, or undefined when everything is allowed. */
  permissionsFor(identity: Identity): Permissions | undefined;
}

/** The effective, substituted filters of one identity; `undefined` means allow everything. */
type Effective = Permissions | undefined;

/** Builds the {@link Authorizer} the edges consult for every PUBLISH and SUBSCRIBE. */
export function createAuthorizer(options: AuthorizerOptions = {}): Authorizer {
  const { acl } = options;
  const mode = options.tokenPermissions ?? 'replace';
  const matchers =
    acl === undefined ? [] : (CLIENT_MATCHERS.get(acl) ?? acl.clients.map((c) => globToRegExp(c.pattern)));
  const cache = new WeakMap<Identity, { value: Effective }>();

  const fromAcl = (identity: Identity, into: { publish: string[]; subscribe: string[] }): void => {
    if (acl === undefined) return;
    const add = (p: Permissions): void => {
      into.publish.push(...p.publish);
      into.subscribe.push(...p.subscribe);
    };
    add(acl.default);
    if (identity.username === undefined) add(acl.anonymous);
    else {
      const user = acl.users.get(identity.username);
      if (user !== undefined) add(user);
    }
    acl.clients.forEach((rule, i) => {
      if (matchers[i]!.test(identity.clientId)) add(rule.permissions);
    });
  };

  const effective = (identity: Identity): Effective => {
    const hit = cache.get(identity);
    if (hit !== undefined) return hit.value;
    let value: Effective;
    const token = identity.permissions;
    if (token === undefined && acl === undefined) value = undefined;
    else {
      const raw = { publish: [] as string[], subscribe: [] as string[] };
      if (token !== undefined) {
        raw.publish.push(...token.publish);
        raw.subscribe.push(...token.subscribe);
      }
      if (token === undefined || mode === 'union') fromAcl(identity, raw);
      value = substitutePermissions(freezePermissions(raw.publish, raw.subscribe), identity);
    }
    cache.set(identity, { value });
    return value;
  };

  return {
    canPublish(identity, topic) {
      const e = effective(identity);
      if (e === undefined) return true;
      for (const f of e.publish) if (topicMatches(f, topic)) return true;
      return false;
    },
    canSubscribe(identity, filter) {
      let inner = filter;
      if (filter.startsWith('$share/')) {
        try {
          inner = parseSharedSubscription(filter)!.filter;
        } catch {
          return false;
        }
      }
      const e = effective(identity);
      if (e === undefined) return true;
      for (const f of e.subscribe) if (filterCovers(f, inner)) return true;
      return false;
    },
    permissionsFor: effective,
  };
}
