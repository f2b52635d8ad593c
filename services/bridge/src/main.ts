import { runMain } from '@protomesh/runtime';
import { startBridge } from './start.js';

await runMain([{ name: 'bridge', start: startBridge }]);
