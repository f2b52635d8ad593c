import type { BridgeRoute } from '@protomesh/bridge';
import {
  compileRoutes,
  IDENTITY_ROUTES,
  RouteCycleError,
  RouteDuplicateError,
  RouteInvalidError,
} from '@protomesh/bridge';
import { describe, expect, it } from 'vitest';

const route = (over: Partial<BridgeRoute> & { id: string }): BridgeRoute => ({
  from: { tier: 'mqtt', filter: '#' },
  to: { tier: 'ws' },
  ...over,
});

describe('routes', () => {
  it('identity routes carry every topic both ways under derived names', () => {
    const [toWs, toMqtt] = compileRoutes('mesh', IDENTITY_ROUTES);
    expect(toWs).toMatchObject({
      id: 'mqtt->ws',
      enabled: true,
      slug: 'mqtt-to-ws',
      from: { tier: 'mqtt', filter: '#' },
      to: { tier: 'ws', topic: undefined },
      qos: 'keep',
      retain: 'keep',
      transform: 'pass',
      consumerFilter: 'mesh.mqtt.1.>',
    });
    expect(toMqtt).toMatchObject({ id: 'ws->mqtt', slug: 'ws-to-mqtt', consumerFilter: 'mesh.ws.1.>' });
  });

  it('a filter that maps to several subjects consumes the whole tier class; named captures map to +', () => {
    const [multi] = compileRoutes('p', [route({ id: 'r', from: { tier: 'ws', filter: 'a/#' }, to: { tier: 'mqtt' } })]);
    expect(multi?.consumerFilter).toBe('p.ws.1.>');
    const [single] = compileRoutes('p', [
      route({ id: 'r', from: { tier: 'ws', filter: 'a/+id' }, to: { tier: 'mqtt' } }),
    ]);
    expect(single?.consumerFilter).toBe('p.ws.1.a.*');
    expect(single?.filter.mqttFilter).toBe('a/+');
  });

  it('names the offending field', () => {
    const bad = (r: unknown) => () => compileRoutes('mesh', [IDENTITY_ROUTES[0]!, r as BridgeRoute]);
    expect(bad({ id: 'a,b', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'ws' } })).toThrow(/^routes\[1\]\.id: /);
    expect(bad({ id: 'x', from: { tier: 'amqp', filter: '#' }, to: { tier: 'ws' } })).toThrow(
      /^routes\[1\]\.from\.tier: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/#/b' }, to: { tier: 'ws' } })).toThrow(
      /^routes\[1\]\.from\.filter: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/+1' }, to: { tier: 'ws' } })).toThrow(
      /^routes\[1\]\.from\.filter: capture name "1"/,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: '#' }, to: { tier: 'xx' } })).toThrow(
      /^routes\[1\]\.to\.tier: /,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/+' }, to: { tier: 'ws', topic: 'b/{2}' } })).toThrow(
      /^routes\[1\]\.to\.topic: uses \{2\} but the source filter has 1 wildcard$/,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/+' }, to: { tier: 'ws', topic: 'b/{#}' } })).toThrow(
      /^routes\[1\]\.to\.topic: uses \{#\} but the source filter has no # level/,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/+id' }, to: { tier: 'ws', topic: 'b/{di}' } })).toThrow(
      /^routes\[1\]\.to\.topic: uses \{di\} but the source filter has no capture named "di"/,
    );
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: 'a/+' }, to: { tier: 'ws', topic: 'b/+' } })).toThrow(
      /^routes\[1\]\.to\.topic: must not contain \+, #/,
    );
    expect(bad(route({ id: 'x', when: { field: 't', op: 'gt' } }))).toThrow(/^routes\[1\]\.when\.value: required/);
    expect(bad(route({ id: 'x', when: { field: 't', op: 'matches', value: '(' } }))).toThrow(
      /^routes\[1\]\.when\.value: expected a regular expression/,
    );
    expect(bad(route({ id: 'x', qos: { cap: 3 } as never }))).toThrow(/^routes\[1\]\.qos: /);
    expect(bad({ id: 'x', from: { tier: 'mqtt', filter: '#' } })).toThrow(RouteInvalidError);
  });

  it('rejects ids that share a consumer name', () => {
    expect(() =>
      compileRoutes('mesh', [
        route({ id: 'a:b' }),
        route({ id: 'a.b', from: { tier: 'ws', filter: '#' }, to: { tier: 'mqtt' } }),
      ]),
    ).toThrow(RouteDuplicateError);
  });

  it('rejects a route that feeds its own source at load time', () => {
    // Same tier, output inside the filter: every crossing would be picked up again by the route.
    expect(() =>
      compileRoutes('mesh', [
        route({ id: 'copy', from: { tier: 'mqtt', filter: 'a/#' }, to: { tier: 'mqtt', topic: 'a/copy/{#}' } }),
      ]),
    ).toThrow(
      /^routes\[0\]\.to\.topic: route "copy" writes mqtt topics \(a\/copy\/#\) that its own filter a\/# matches$/,
    );
    expect(() => compileRoutes('mesh', [route({ id: 'same', to: { tier: 'mqtt' } })])).toThrow(RouteCycleError);
    // A same-tier rewrite into another part of the tree is fine.
    expect(
      compileRoutes('mesh', [
        route({ id: 'rename', from: { tier: 'mqtt', filter: 'legacy/#' }, to: { tier: 'mqtt', topic: 'v2/{#}' } }),
      ]),
    ).toHaveLength(1);
    // A disabled route cannot feed anything.
    expect(compileRoutes('mesh', [route({ id: 'same', enabled: false, to: { tier: 'mqtt' } })])).toHaveLength(1);
  });

  it('rejects routes that feed each other in a cycle when messages may make several hops', () => {
    const pair = [
      route({ id: 'up', from: { tier: 'mqtt', filter: 'dev/+id/#' }, to: { tier: 'ws', topic: 'app/{id}/{#}' } }),
      route({ id: 'down', from: { tier: 'ws', filter: 'app/+/#' }, to: { tier: 'mqtt', topic: 'dev/{1}/{#}' } }),
    ];
    // One hop (the default): a message never crosses twice, so the pair cannot loop.
    expect(compileRoutes('mesh', pair)).toHaveLength(2);
    expect(compileRoutes('mesh', IDENTITY_ROUTES, { maxHops: 1 })).toHaveLength(2);
    expect(() => compileRoutes('mesh', pair, { maxHops: 2 })).toThrow(
      /^routes\[0\]\.to\.topic: routes feed each other in a cycle \("up" → "down" → "up"\) and BRIDGE_MAX_HOPS is 2$/,
    );
    expect(() => compileRoutes('mesh', IDENTITY_ROUTES, { maxHops: 3 })).toThrow(RouteCycleError);
    // A chain without a cycle is fine with several hops.
    const chain = [
      route({ id: 'a', from: { tier: 'mqtt', filter: 'raw/#' }, to: { tier: 'mqtt', topic: 'clean/{#}' } }),
      route({ id: 'b', from: { tier: 'mqtt', filter: 'clean/#' }, to: { tier: 'ws', topic: 'ui/{#}' } }),
    ];
    expect(compileRoutes('mesh', chain, { maxHops: 2 })).toHaveLength(2);
    // Disjoint topic spaces do not feed each other.
    expect(
      compileRoutes(
        'mesh',
        [
          route({ id: 'x', from: { tier: 'mqtt', filter: 'a/#' }, to: { tier: 'ws', topic: 'b/{#}' } }),
          route({ id: 'y', from: { tier: 'ws', filter: 'c/#' }, to: { tier: 'mqtt', topic: 'a/{#}' } }),
        ],
        { maxHops: 4 },
      ),
    ).toHaveLength(2);
  });

  it('errors name routes by the labels given (a directory of files)', () => {
    expect(() =>
      compileRoutes('mesh', [route({ id: 'ok' }), route({ id: 'bad', from: { tier: 'mqtt', filter: '' } })], {
        labels: ['a.yaml: routes[0]', 'b.yaml: routes[0]'],
      }),
    ).toThrow(/^b\.yaml: routes\[0\]\.from\.filter: /);
  });
});
