import { runMain } from '@protomesh/runtime';
import { startMqttEdge } from './start.js';

await runMain([{ name: 'mqtt-edge', start: startMqttEdge }]);
