/**
 * The JSON Schema of a routes file. `services/bridge/routes.schema.json` is this object,
 * published for editors (`# yaml-language-server: $schema=…`); a unit test keeps the two equal.
 * The schema checks shapes; `compileRoutes` checks what a schema cannot (filters, templates,
 * duplicate ids, cycles).
 */
import { CONDITION_OPS } from './condition.js';
import { ROUTE_ID_PATTERN } from './routes.js';
import { PAYLOAD_TRANSFORMS } from './transform.js';

const qosLevel = { enum: [0, 1, 2] };

/** JSON Schema (draft-07) of a routes file: `{ routes: [ … ] }`. */
export const ROUTES_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://protomesh.dev/schemas/bridge-routes.schema.json',
  title: 'Protomesh bridge routes',
  description: 'Declarative routes of the Protomesh bridge between the MQTT and WebSocket topic spaces.',
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    routes: { type: 'array', items: { $ref: '#/definitions/route' } },
  },
  definitions: {
    tier: { description: 'a tier: mqtt or ws', enum: ['mqtt', 'ws'] },
    route: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'from', 'to'],
      properties: {
        id: {
          description: 'Stable route id (part of dedup ids and the stored position): 1–64 of A-Z a-z 0-9 _ . : > -',
          type: 'string',
          pattern: ROUTE_ID_PATTERN,
        },
        enabled: { description: 'A disabled route is listed but carries nothing.', type: 'boolean', default: true },
        description: { type: 'string' },
        from: {
          type: 'object',
          additionalProperties: false,
          required: ['tier', 'filter'],
          properties: {
            tier: { $ref: '#/definitions/tier' },
            filter: {
              description: 'MQTT topic filter; a level +name or a last level #name is a named capture',
              type: 'string',
              minLength: 1,
            },
          },
        },
        to: {
          type: 'object',
          additionalProperties: false,
          required: ['tier'],
          properties: {
            tier: { $ref: '#/definitions/tier' },
            topic: {
              description: 'Topic template with {1}, {2}, {#} and {name} captures; default: the source topic',
              type: 'string',
              minLength: 1,
            },
          },
        },
        qos: {
          description: 'keep, {cap: 0|1|2} or {set: 0|1|2}',
          anyOf: [
            { const: 'keep' },
            { type: 'object', additionalProperties: false, required: ['cap'], properties: { cap: qosLevel } },
            { type: 'object', additionalProperties: false, required: ['set'], properties: { set: qosLevel } },
          ],
        },
        retain: { description: 'keep, clear or set the retain flag', enum: ['keep', 'clear', 'set'] },
        transform: {
          type: 'object',
          additionalProperties: false,
          properties: {
            payload: { enum: [...PAYLOAD_TRANSFORMS] },
            contentType: { description: 'Content type of the target message', type: 'string', minLength: 1 },
          },
        },
        properties: {
          description: 'MQTT 5 user properties / WebSocket message properties',
          type: 'object',
          additionalProperties: false,
          properties: {
            forward: { type: 'boolean', default: true },
            drop: { type: 'array', items: { type: 'string' } },
            rename: { type: 'object', additionalProperties: { type: 'string' } },
            set: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        when: {
          description: 'Condition on a field of a JSON payload',
          type: 'object',
          additionalProperties: false,
          required: ['field', 'op'],
          properties: {
            field: { description: 'Dot-separated path, e.g. reading.temp or values.0', type: 'string', minLength: 1 },
            op: { enum: [...CONDITION_OPS] },
            value: {},
          },
        },
        rateLimit: {
          type: 'object',
          additionalProperties: false,
          required: ['perSecond'],
          properties: {
            perSecond: {
              description: 'Messages a second over the route, all replicas together',
              type: 'number',
              exclusiveMinimum: 0,
            },
            burst: { description: 'Messages let through at once (default perSecond)', type: 'integer', minimum: 1 },
          },
        },
      },
    },
  },
} as const;
