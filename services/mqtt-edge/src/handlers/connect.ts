import { randomUUID } from 'node:crypto';
import { isValidTopicName } from '@protomesh/topic-map';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { Connection, ProtocolLevel } from '../connection.js';
import { NotAuthorizedError, TopicNameInvalidError } from '../errors.js';
import { isValidUtf8 } from '../properties.js';
import { Reason } from '../reason-codes.js';
import { SESSION_NEVER_EXPIRES } from '../session/record.js';
import type { WillMessage } from '../will.js';

/** Receive Maximum when the client sends none (MQTT 5 §3.1.2.11.3). */
const DEFAULT_RECEIVE_MAXIMUM = 65_535;

/**
 * CONNECT: checks the protocol name, client identifier and Will, grants a keep alive and a
 * session expiry, authenticates (password file, JWT as password, anonymous when allowed) and
 * checks the Will topic against the ACL, then claims the session (it may be resumed from any
 * replica) and accepts (CONNACK 0x00 with Session Present) or refuses with a CONNACK reason
 * code (0x86 bad credentials, 0x87 not authorized, …) and closes.
 */
export function handleConnect(connection: Connection, packet: IConnectPacket): void {
  const version = (packet.protocolVersion ?? 4) as ProtocolLevel;
  const v5 = version === 5;
  const settings = connection.context.settings;
  const properties = v5 ? packet.properties : undefined;

  // [MQTT-3.1.2-1]: the protocol name must match the level (MQIsdp for 3.1, MQTT after).
  const expectedName = version === 3 ? 'MQIsdp' : 'MQTT';
  if (packet.protocolId !== expectedName) {
    connection.refuse(
      version,
      Reason.UnsupportedProtocolVersion,
      `protocol name ${packet.protocolId} with level ${version}`,
    );
    return;
  }
  if (properties?.authenticationMethod !== undefined) {
    connection.refuse(version, Reason.BadAuthenticationMethod, 'enhanced authentication is not supported');
    return;
  }

  let clientId = packet.clientId;
  let assigned: string | undefined;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8] (v3.1.1): an empty identifier needs Clean Session 1; MQTT 3.1 needs one always.
    if (version === 3 || (version === 4 && !packet.clean)) {
      connection.refuse(version, Reason.ClientIdentifierNotValid, 'empty client identifier without clean session');
      return;
    }
    // [MQTT-3.1.3-6] [MQTT-3.2.2-16]: assign a unique identifier; MQTT 5 returns it in CONNACK.
    clientId = `pm-${randomUUID()}`;
    if (v5) assigned = clientId;
  }

  let will: WillMessage | undefined;
  if (packet.will) {
    if (!isValidTopicName(packet.will.topic)) {
      if (v5) {
        connection.refuse(version, Reason.TopicNameInvalid, `invalid will topic ${JSON.stringify(packet.will.topic)}`);
      } else {
        connection.fail(
          new TopicNameInvalidError(packet.will.topic, 'not a valid topic name for a Will Message'),
          Reason.TopicNameInvalid,
        );
      }
      return;
    }
    if (packet.will.topic.startsWith('$')) {
      connection.refuse(version, Reason.NotAuthorized, `will topic ${JSON.stringify(packet.will.topic)} is reserved`);
      return;
    }
    const payload = typeof packet.will.payload === 'string' ? Buffer.from(packet.will.payload) : packet.will.payload;
    const willProperties = v5 ? packet.will.properties : undefined;
    if (willProperties?.payloadFormatIndicator && !isValidUtf8(payload)) {
      // [MQTT-3.1.3-?] MQTT 5 §3.1.3.2.3: a UTF-8 Will payload that is not UTF-8.
      connection.refuse(version, Reason.PayloadFormatInvalid, 'will payload is not valid UTF-8');
      return;
    }
    will = {
      topic: packet.will.topic,
      payload,
      qos: packet.will.qos ?? 0,
      retain: packet.will.retain ?? false,
      delay: willProperties?.willDelayInterval ?? 0,
      properties: willProperties && {
        payloadFormatIndicator: willProperties.payloadFormatIndicator,
        messageExpiryInterval: willProperties.messageExpiryInterval,
        contentType: willProperties.contentType,
        responseTopic: willProperties.responseTopic,
        correlationData: willProperties.correlationData,
        userProperties: willProperties.userProperties,
      },
    };
  }

  // MQTT 5 lets the server cap the keep alive (Server Keep Alive, §3.2.2.3.14); a 3.1.1
  // client cannot be told, so its own value is enforced.
  let keepalive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (v5 && settings.maxKeepalive > 0 && (keepalive === 0 || keepalive > settings.maxKeepalive)) {
    keepalive = settings.maxKeepalive;
    serverKeepAlive = keepalive;
  }

  // Session Expiry Interval (MQTT 5 §3.1.2.11.2), capped by MQTT_MAX_SESSION_EXPIRY; a 3.1.1
  // clean-session-0 session lasts as long as the cap allows.
  const cap = settings.maxSessionExpiry;
  const requested = v5 ? (properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : SESSION_NEVER_EXPIRES;
  const sessionExpiry = Math.min(requested, cap);

  let connackProperties: IConnackPacket['properties'];
  if (v5) {
    connackProperties = {
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      topicAliasMaximum: settings.topicAliasMaximum,
      maximumPacketSize: settings.maxPacketSize,
      ...(settings.receiveMaximum < 65_535 && { receiveMaximum: settings.receiveMaximum }),
      ...(serverKeepAlive !== undefined && { serverKeepAlive }),
      ...(assigned !== undefined && { assignedClientIdentifier: assigned }),
      // [MQTT-3.2.2-?] MQTT 5 §3.2.2.3.2: tell the client when its expiry was capped.
      ...(sessionExpiry !== requested && { sessionExpiryInterval: sessionExpiry }),
    };
  }

  const accepted = {
    version,
    clientId,
    keepalive,
    will,
    receiveMaximum: properties?.receiveMaximum || DEFAULT_RECEIVE_MAXIMUM,
    maximumPacketSize: properties?.maximumPacketSize,
    topicAliasMaximum: properties?.topicAliasMaximum ?? 0,
    // [MQTT-3.1.2-28] [MQTT-3.1.2-29]: reason strings only when the client wants them (default 1).
    problemInformation: properties?.requestProblemInformation !== false,
    sessionExpiry,
    cleanStart: packet.clean !== false,
    connackProperties,
    ...(packet.username !== undefined && { username: packet.username }),
  };
  const { auth, openSession } = connection.context;
  const password = typeof packet.password === 'string' ? Buffer.from(packet.password) : packet.password;
  const decide = auth.authenticate({ clientId, username: packet.username, password }).then((identity) => {
    connection.identity = identity;
    if (will && !auth.authorizer.canPublish(identity, will.topic)) {
      throw new NotAuthorizedError('publish a Will Message to', will.topic);
    }
    return openSession(connection, {
      clientId,
      proto: version,
      expiry: sessionExpiry,
      cleanStart: accepted.cleanStart,
    });
  });
  connection.beginConnect(accepted, decide);
}
