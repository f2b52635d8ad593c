import type { IPubcompPacket } from 'mqtt-packet';
import type { Connection } from '../connection.js';

/** PUBCOMP: this broker sends no QoS 2 deliveries yet, so there is nothing to complete. */
export function handlePubcomp(_connection: Connection, _packet: IPubcompPacket): void {}
