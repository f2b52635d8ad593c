import { randomUUID } from 'node:crypto';
import { isValidTopicName } from '@protomesh/topic-map';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { Connection, ProtocolLevel, WillMessage } from '../connection.js';
import { TopicNameInvalidError } from '../errors.js';
import { Reason } from '../reason-codes.js';

/** Receive Maximum when the client sends none (MQTT 5 §3.1.2.11.3). */
const DEFAULT_RECEIVE_MAXIMUM = 65_535;

/**
 * CONNECT: checks the protocol name, authentication policy, client identifier and Will,
 * grants a keep alive, then accepts (CONNACK 0x00, session present 0) or refuses with a
 * CONNACK reason code and closes. Sessions are not kept yet: Clean Session 0 and a Session
 * Expiry Interval are accepted, but nothing outlives the connection.
 */
export function handleConnect(connection: Connection, packet: IConnectPacket): void {
  const version = (packet.protocolVersion ?? 4) as ProtocolLevel;
  const v5 = version === 5;
  const settings = connection.context.settings;

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
  if (v5 && packet.properties?.authenticationMethod !== undefined) {
    connection.refuse(version, Reason.BadAuthenticationMethod, 'enhanced authentication is not supported');
    return;
  }
  if (!settings.allowAnonymous) {
    // Credentials cannot be checked yet (authentication comes later): refuse everyone rather
    // than let any user name in.
    connection.refuse(version, Reason.NotAuthorized, 'anonymous access is disabled (MQTT_ALLOW_ANONYMOUS)');
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
    // [MQTT-3.1.3-6]: assign a unique identifier; MQTT 5 returns it in CONNACK.
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
    if (v5 && packet.will.retain) {
      // MQTT 5 §3.2.2.3.5: retained messages are not available yet (Retain Available 0).
      connection.refuse(version, Reason.RetainNotSupported, 'will retain is not supported');
      return;
    }
    const payload = packet.will.payload;
    will = {
      topic: packet.will.topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos: packet.will.qos ?? 0,
      retain: packet.will.retain ?? false,
      // Will Delay Interval is not honoured yet: the Will is published when the connection ends.
      properties: packet.will.properties && {
        payloadFormatIndicator: packet.will.properties.payloadFormatIndicator,
        messageExpiryInterval: packet.will.properties.messageExpiryInterval,
        contentType: packet.will.properties.contentType,
        responseTopic: packet.will.properties.responseTopic,
        correlationData: packet.will.properties.correlationData,
        userProperties: packet.will.properties.userProperties,
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

  let connackProperties: IConnackPacket['properties'];
  if (v5) {
    connackProperties = {
      // Maximum QoS is omitted: QoS 2 is accepted inbound (outbound is capped at the granted 1).
      retainAvailable: false,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      topicAliasMaximum: 0,
      maximumPacketSize: settings.maxPacketSize,
      ...(serverKeepAlive !== undefined && { serverKeepAlive }),
      ...(assigned !== undefined && { assignedClientIdentifier: assigned }),
      // Nothing is kept after the connection yet, so say so when the client asked for more.
      ...(packet.properties?.sessionExpiryInterval ? { sessionExpiryInterval: 0 } : {}),
    };
  }

  connection.accept({
    version,
    clientId,
    keepalive,
    will,
    receiveMaximum: (v5 && packet.properties?.receiveMaximum) || DEFAULT_RECEIVE_MAXIMUM,
    maximumPacketSize: v5 ? packet.properties?.maximumPacketSize : undefined,
    connackProperties,
  });
}
