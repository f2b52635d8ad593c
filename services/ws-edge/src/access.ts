/** What one connection (or API caller) may do, decided when its token was verified. */
export interface Access {
  /** Who it is (the token's `sub`), for logs and to scope publish dedup ids; undefined when anonymous. */
  readonly principal: string | undefined;
  /** When the credentials expire, in epoch ms; undefined = never. */
  readonly expiresAt: number | undefined;
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
}

/** Anonymous access: everything is allowed (WS_ALLOW_ANONYMOUS). */
export const ANONYMOUS_ACCESS: Access = Object.freeze({
  principal: undefined,
  expiresAt: undefined,
  canPublish: () => true,
  canSubscribe: () => true,
});

/** Verifies tokens into {@link Access}; rejects with `UnauthorizedError`. */
export interface Authenticator {
  verify(token: string): Promise<Access>;
}
