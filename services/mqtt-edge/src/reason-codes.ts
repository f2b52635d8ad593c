/**
 * MQTT reason and return codes, as tables. MQTT 5 uses one-byte Reason Codes in every
 * acknowledgement and in DISCONNECT (MQTT 5 §2.4); MQTT 3.1.1 has CONNACK return codes
 * (§3.2.2.3) and the SUBACK failure code 0x80 only.
 */

/** MQTT 5 Reason Codes (MQTT 5 §2.4, Table 2-6), the ones this broker sends or reads. */
export const Reason = {
  Success: 0x00,
  GrantedQos1: 0x01,
  GrantedQos2: 0x02,
  /** DISCONNECT from a client: close, but publish the Will Message. */
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QosNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  SharedSubscriptionsNotSupported: 0x9e,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** One MQTT 5 reason code value. */
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3, Table 3.1). */
export const ConnectReturn = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  IdentifierRejected: 0x02,
  ServerUnavailable: 0x03,
  BadUserNameOrPassword: 0x04,
  NotAuthorized: 0x05,
} as const;

/** One MQTT 3.1.1 CONNACK return code value. */
export type ConnectReturnCode = (typeof ConnectReturn)[keyof typeof ConnectReturn];

/** MQTT 3.1.1 SUBACK return code for a refused subscription (§3.9.3). */
export const SUBACK_FAILURE_V3 = 0x80;

/**
 * The MQTT 3.1.1 CONNACK return code that best carries an MQTT 5 CONNACK reason, so one
 * refusal decision serves both versions (3.1.1 has six codes; anything else is "server
 * unavailable").
 */
const CONNECT_RETURN_FOR_REASON: ReadonlyMap<number, ConnectReturnCode> = new Map<number, ConnectReturnCode>([
  [Reason.Success, ConnectReturn.Accepted],
  [Reason.UnsupportedProtocolVersion, ConnectReturn.UnacceptableProtocolVersion],
  [Reason.ClientIdentifierNotValid, ConnectReturn.IdentifierRejected],
  [Reason.BadUserNameOrPassword, ConnectReturn.BadUserNameOrPassword],
  [Reason.NotAuthorized, ConnectReturn.NotAuthorized],
  [Reason.BadAuthenticationMethod, ConnectReturn.NotAuthorized],
  [Reason.ServerUnavailable, ConnectReturn.ServerUnavailable],
  [Reason.ServerBusy, ConnectReturn.ServerUnavailable],
]);

/** The MQTT 3.1.1 CONNACK return code for an MQTT 5 CONNACK reason code. */
export function connectReturnFor(reason: ReasonCode): ConnectReturnCode {
  return CONNECT_RETURN_FOR_REASON.get(reason) ?? ConnectReturn.ServerUnavailable;
}

/** Reason-code names for logs, e.g. `0x8E session taken over`. */
const REASON_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Reason).map(([name, code]) => [code, name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()]),
);

/** `0x8e session taken over`: a reason code with its name, for log lines. */
export function describeReason(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = REASON_NAMES.get(code);
  return name ? `${hex} ${name}` : hex;
}

/** Protocol level byte of CONNECT → the name used in logs and the `version` metric attribute. */
export const PROTOCOL_VERSION_NAMES: Readonly<Record<3 | 4 | 5, string>> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };
