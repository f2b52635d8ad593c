export type {
  AclRules,
  Authorizer,
  AuthorizerOptions,
  ClientRule,
  Identity,
  Permissions,
  TokenPermissionsMode,
} from './acl.js';
export {
  aclFromObject,
  createAuthorizer,
  DEFAULT_PERMISSIONS_CLAIM,
  loadAclFile,
  NO_PERMISSIONS,
  parseAcl,
  permissionsFromClaims,
  substitutePermissions,
} from './acl.js';
export {
  AclInvalidError,
  AuthFileUnreadableError,
  JwksUnavailableError,
  JwtConfigInvalidError,
  PasswordFileInvalidError,
  TokenClaimInvalidError,
  TokenExpiredError,
  TokenInvalidError,
  UsernameInvalidError,
} from './errors.js';
export { filterCovers } from './filter-covers.js';
export type { JwtVerifier, JwtVerifierOptions, VerifiedToken } from './jwt.js';
export {
  createJwtVerifier,
  DEFAULT_CLIENT_ID_CLAIM,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_COOLDOWN_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  DEFAULT_USERNAME_CLAIM,
  looksLikeJwt,
  MAX_TOKEN_CHARS,
  MIN_SECRET_BYTES,
} from './jwt.js';
export type { PasswordFile } from './password-file.js';
export {
  hashPassword,
  loadPasswordFile,
  parsePasswordFile,
  SCRYPT_N,
  SCRYPT_P,
  SCRYPT_R,
  setPasswordEntry,
  validateUsername,
} from './password-file.js';
