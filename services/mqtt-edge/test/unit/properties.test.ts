import { describe, expect, it } from 'vitest';
import {
  metaFromPublish,
  pairsToUserProperties,
  publishPropertiesFromMeta,
  userPropertiesToPairs,
} from '../../src/properties.js';

describe('MQTT 5 properties ↔ metadata', () => {
  it('[MQTT-3.3.2-18] keeps user property order and repeated names', () => {
    const pairs: Array<[string, string]> = [
      ['b', '1'],
      ['a', '2'],
      ['b', '3'],
      ['__proto__', 'safe'],
    ];
    const object = pairsToUserProperties(pairs);
    expect(userPropertiesToPairs(object)).toEqual([
      ['b', '1'],
      ['b', '3'],
      ['a', '2'],
      ['__proto__', 'safe'],
    ]);
  });

  it('turns Message Expiry Interval into an absolute time and back into what is left', () => {
    const now = 1_700_000_000_000;
    const meta = metaFromPublish(
      {
        topic: 't',
        qos: 1,
        retain: false,
        clientId: 'c',
        properties: { messageExpiryInterval: 60, payloadFormatIndicator: false },
      },
      now,
    );
    expect(meta).toMatchObject({
      originTier: 'mqtt',
      originClient: 'c',
      qos: 1,
      expiresAt: now + 60_000,
      payloadFormat: 0,
    });
    expect(publishPropertiesFromMeta(meta, now + 15_500)).toEqual({
      payloadFormatIndicator: false,
      messageExpiryInterval: 45,
    });
  });

  it('produces no properties for plain metadata', () => {
    expect(publishPropertiesFromMeta({ originTier: 'ws', qos: 0 }, Date.now())).toBeUndefined();
  });
});
