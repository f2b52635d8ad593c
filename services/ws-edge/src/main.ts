/** ws-edge alone: `node dist/main.js` (configuration from the environment, see README). */
import { runMain } from '@protomesh/runtime';
import { startWsEdge } from './start.js';

await runMain([{ name: 'ws-edge', start: startWsEdge }]);
