import type { BridgeRoute } from '@protomesh/bridge';
import { compileRoutes, IDENTITY_ROUTES, RouteDuplicateError, RouteInvalidError } from '@protomesh/bridge';
import { describe, expect, it } from 'vitest';

describe('routes', () => {
  it('identity routes carry every topic both ways under derived consumer and lease names', () => {
    const [toWs, toMqtt] = compileRoutes('mesh', IDENTITY_ROUTES);
    expect(toWs).toMatchObject({
      id: 'mqtt->ws',
      from: { tier: 'mqtt', filter: '#' },
      to: { tier: 'ws' },
      durable: 'bridge-mqtt-to-ws',
      leaseKey: 'bridge.mqtt-to-ws',
      consumerFilter: 'mesh.mqtt.1.>',
    });
    expect(toMqtt).toMatchObject({ id: 'ws->mqtt', durable: 'bridge-ws-to-mqtt', consumerFilter: 'mesh.ws.1.>' });
  });

  it('a filter that maps to several subjects consumes the whole tier class', () => {
    const [route] = compileRoutes('p', [{ id: 'r', from: { tier: 'ws', filter: 'a/#' }, to: { tier: 'mqtt' } }]);
    expect(route?.consumerFilter).toBe('p.ws.1.>');
    const [single] = compileRoutes('p', [{ id: 'r', from: { tier: 'ws', filter: 'a/+' }, to: { tier: 'mqtt' } }]);
    expect(single?.consumerFilter).toBe('p.ws.1.a.*');
  });

  it('names the offending field', () => {
    const bad = (route: unknown) => () => compileRoutes('mesh', [IDENTITY_ROUTES[0]!, route as BridgeRoute]);
    expect(bad({ id: 'a,b', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws' } })).toThrow(/^routes\[1\]\.id: /);
    expect(bad({ id: 'x', from: { tier: 'amqp', filter: '#' }, to: { tier: 'ws' } })).toThrow(
      /^routes\[1\]\.from\.tier: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/#/b' }, to: { tier: 'ws' } })).toThrow(
      /^routes\[1\]\.from\.filter: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'mqtt' } })).toThrow(
      /^routes\[1\]\.to\.tier: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: '#' } })).toThrow(RouteInvalidError);
  });

  it('rejects ids that share a consumer name', () => {
    expect(() =>
      compileRoutes('mesh', [
        { id: 'a:b', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws' } },
        { id: 'a.b', from: { tier: 'ws', filter: '#' }, to: { tier: 'mqtt' } },
      ]),
    ).toThrow(RouteDuplicateError);
  });
});
