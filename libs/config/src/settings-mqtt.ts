import { boolean, bytes, duration, integer, oneOf, port, text } from './parse.js';
import { host, setting } from './setting.js';

/** Default MQTT port, as registered with IANA. */
export const DEFAULT_MQTT_PORT = 1883;
/** Default MQTT over TLS port, as registered with IANA. */
export const DEFAULT_MQTT_TLS_PORT = 8883;
/** Default MQTT over WebSocket port (the usual broker convention). */
export const DEFAULT_MQTT_WS_PORT = 8083;
/** Admin port of mqtt-edge (`/healthz`, `/readyz`, `/metrics`); each service has its own so all fit in one process. */
export const DEFAULT_MQTT_ADMIN_PORT = 9101;
/** Largest MQTT packet accepted, in bytes (1 MiB; the protocol allows 256 MiB). */
export const DEFAULT_MQTT_MAX_PACKET_BYTES = 1024 * 1024;
/** Time a new MQTT connection has to send CONNECT, in milliseconds. */
export const DEFAULT_MQTT_CONNECT_TIMEOUT_MS = 10_000;
/** Longest a disconnected persistent session is kept, in milliseconds (24 h, the default stream retention). */
export const DEFAULT_MQTT_MAX_SESSION_EXPIRY_MS = 24 * 3_600_000;
/** Topic aliases a client may use towards the broker (MQTT 5 Topic Alias Maximum). */
export const DEFAULT_MQTT_TOPIC_ALIAS_MAXIMUM = 64;

/** mqtt-edge settings. */
export const MQTT_SETTINGS = [
  setting('mqtt.host', 'MQTT_HOST', host, '0.0.0.0', 'Address the MQTT listeners bind.'),
  setting('mqtt.port', 'MQTT_PORT', port, DEFAULT_MQTT_PORT, 'MQTT over TCP port.'),
  setting(
    'mqtt.adminPort',
    'MQTT_ADMIN_PORT',
    port,
    DEFAULT_MQTT_ADMIN_PORT,
    'mqtt-edge admin port (/healthz, /readyz, /metrics).',
  ),
  setting(
    'mqtt.maxPacketSize',
    'MQTT_MAX_PACKET_SIZE',
    bytes(64, 268_435_455),
    DEFAULT_MQTT_MAX_PACKET_BYTES,
    'Largest MQTT packet accepted.',
  ),
  setting(
    'mqtt.connectTimeout',
    'MQTT_CONNECT_TIMEOUT',
    duration(100, 600_000),
    DEFAULT_MQTT_CONNECT_TIMEOUT_MS,
    'Time a new connection has to send CONNECT.',
  ),
  setting(
    'mqtt.maxKeepalive',
    'MQTT_MAX_KEEPALIVE',
    integer(0, 65_535),
    0,
    'Largest keep alive granted, in seconds (0 = whatever the client asks); MQTT 5 clients are told (Server Keep Alive).',
  ),
  setting(
    'mqtt.maxSessionExpiry',
    'MQTT_MAX_SESSION_EXPIRY',
    duration(0, 4_294_967_295_000),
    DEFAULT_MQTT_MAX_SESSION_EXPIRY_MS,
    'Longest a disconnected persistent session is kept (MQTT 5 Session Expiry Interval cap; the expiry of 3.1.1 clean-session-0 sessions).',
  ),
  setting(
    'mqtt.redeliveryDelay',
    'MQTT_REDELIVERY_DELAY',
    duration(1_000, 3_600_000),
    10_000,
    'After a replica crash, how long until QoS 1/2 messages it had sent but not seen acknowledged go to the client again (stream ack wait).',
  ),
  setting(
    'mqtt.receiveMaximum',
    'MQTT_RECEIVE_MAXIMUM',
    integer(1, 65_535),
    65_535,
    'Unacknowledged QoS 1/2 PUBLISH packets one MQTT 5 client may send (Receive Maximum); more is DISCONNECT 0x93.',
  ),
  setting(
    'mqtt.topicAliasMaximum',
    'MQTT_TOPIC_ALIAS_MAXIMUM',
    integer(0, 65_535),
    DEFAULT_MQTT_TOPIC_ALIAS_MAXIMUM,
    'Topic aliases an MQTT 5 client may use towards the broker (0 = none).',
  ),
  setting(
    'mqtt.allowAnonymous',
    'MQTT_ALLOW_ANONYMOUS',
    boolean,
    undefined,
    'Accept clients without credentials (default: true with the embedded backbone, false with NATS_URL).',
  ),
  setting(
    'mqtt.passwordFile',
    'MQTT_PASSWORD_FILE',
    text(),
    undefined,
    'File of user names and salted password hashes (mosquitto_passwd formats).',
  ),
  setting(
    'mqtt.aclFile',
    'MQTT_ACL_FILE',
    text(),
    undefined,
    'YAML ACL file (default, anonymous, users and clients rules; %c and %u substituted); unset = every client may do anything its token allows.',
  ),
  setting(
    'mqtt.jwt.secret',
    'MQTT_JWT_SECRET',
    text(),
    undefined,
    'HMAC secret: a JWT (HS256/384/512) is accepted as the MQTT password.',
  ),
  setting(
    'mqtt.jwt.publicKeyFile',
    'MQTT_JWT_PUBLIC_KEY_FILE',
    text(),
    undefined,
    'PEM public key: a JWT signed with it (RS/PS/ES) is accepted as the MQTT password.',
  ),
  setting(
    'mqtt.jwt.jwksUrl',
    'MQTT_JWT_JWKS_URL',
    text(/^https?:\/\/\S+$/, 'an http(s) URL'),
    undefined,
    'JWKS URL (keys cached): a JWT signed with one of its keys is accepted as the MQTT password.',
  ),
  setting('mqtt.jwt.issuer', 'MQTT_JWT_ISSUER', text(), undefined, 'Required JWT issuer (iss).'),
  setting('mqtt.jwt.audience', 'MQTT_JWT_AUDIENCE', text(), undefined, 'Required JWT audience (aud).'),
  setting(
    'mqtt.denySubscribeCode',
    'MQTT_DENY_SUBSCRIBE_CODE',
    oneOf(['0x80', '0x87'] as const),
    '0x87',
    'MQTT 5 SUBACK code for a subscription the ACL denies: 0x87 (not authorized) or 0x80 (unspecified error). 3.1.1 always gets 0x80.',
  ),
  setting(
    'mqtt.tls.port',
    'MQTT_TLS_PORT',
    port,
    DEFAULT_MQTT_TLS_PORT,
    'MQTT over TLS port (listens only when MQTT_TLS_CERT_FILE is set).',
  ),
  setting(
    'mqtt.tls.certFile',
    'MQTT_TLS_CERT_FILE',
    text(),
    undefined,
    'PEM certificate chain for MQTT over TLS; set to enable mqtts.',
  ),
  setting('mqtt.tls.keyFile', 'MQTT_TLS_KEY_FILE', text(), undefined, 'PEM private key for MQTT over TLS.'),
  setting(
    'mqtt.tls.caFile',
    'MQTT_TLS_CA_FILE',
    text(),
    undefined,
    'PEM CA bundle: when set, TLS clients must present a certificate it signed.',
  ),
  setting('mqtt.ws.enabled', 'MQTT_WS_ENABLED', boolean, false, 'Serve MQTT over WebSocket.'),
  setting('mqtt.ws.port', 'MQTT_WS_PORT', port, DEFAULT_MQTT_WS_PORT, 'MQTT over WebSocket port.'),
  setting(
    'mqtt.ws.path',
    'MQTT_WS_PATH',
    text(/^\/[^\s]*$/, 'a URL path starting with /'),
    '/mqtt',
    'URL path of the MQTT over WebSocket endpoint.',
  ),
  setting(
    'mqtt.proxyProtocol',
    'MQTT_PROXY_PROTOCOL',
    boolean,
    false,
    'Expect a PROXY protocol v1/v2 header on every TCP/TLS connection (behind a load balancer that sends it).',
  ),
  setting(
    'mqtt.ws.trustForwardedFor',
    'MQTT_WS_TRUST_FORWARDED_FOR',
    boolean,
    false,
    'Take the client address of MQTT over WebSocket from X-Forwarded-For (behind a trusted proxy).',
  ),
] as const;

/** `config.mqtt`: mqtt-edge settings. */
export interface MqttConfig {
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  /** Bytes. */
  readonly maxPacketSize: number;
  /** Milliseconds. */
  readonly connectTimeout: number;
  /** Seconds; 0 = no cap. */
  readonly maxKeepalive: number;
  /** Milliseconds. */
  readonly maxSessionExpiry: number;
  /** Milliseconds. */
  readonly redeliveryDelay: number;
  readonly receiveMaximum: number;
  readonly topicAliasMaximum: number;
  /** Undefined = true in embedded mode only (no NATS_URL). */
  readonly allowAnonymous: boolean | undefined;
  readonly passwordFile: string | undefined;
  readonly aclFile: string | undefined;
  readonly jwt: {
    readonly secret: string | undefined;
    readonly publicKeyFile: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
  };
  readonly denySubscribeCode: '0x80' | '0x87';
  readonly tls: {
    readonly port: number;
    readonly certFile: string | undefined;
    readonly keyFile: string | undefined;
    readonly caFile: string | undefined;
  };
  readonly ws: {
    readonly enabled: boolean;
    readonly port: number;
    readonly path: string;
    readonly trustForwardedFor: boolean;
  };
  readonly proxyProtocol: boolean;
}
