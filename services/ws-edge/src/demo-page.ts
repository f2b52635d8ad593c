/**
 * The live demo page at `/`: plain HTML and one ES module (`public/`), using the client SDK
 * served as ES modules from `@protomesh/ws-client`'s build (`/sdk/*.js`), no bundler.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from '@protomesh/telemetry';
import type { FastifyInstance } from 'fastify';

const PUBLIC_DIR = new URL('../public/', import.meta.url);
const SDK_FILE_RE = /^[a-z0-9-]+\.js$/;

export interface DemoPageOptions {
  /** WebSocket path the page connects to. */
  readonly wsPath: string;
  readonly logger: Logger;
}

/** The built SDK modules by file name (read once at start-up), or an empty map when it is not built. */
function sdkModules(logger: Logger): Map<string, string> {
  const modules = new Map<string, string>();
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('@protomesh/ws-client'));
  } catch (error) {
    logger.warn({ err: error }, 'demo page: @protomesh/ws-client is not built; /sdk/ will answer 404');
    return modules;
  }
  for (const name of readdirSync(dir)) {
    if (SDK_FILE_RE.test(name)) modules.set(name, readFileSync(join(dir, name), 'utf8'));
  }
  return modules;
}

/** Registers `/` (the page), `/demo.js` and `/sdk/<module>.js`. */
export function registerDemoPage(app: FastifyInstance, options: DemoPageOptions): void {
  const htmlPath = new URL('index.html', PUBLIC_DIR);
  if (!existsSync(htmlPath)) {
    options.logger.warn('demo page: public/index.html is missing');
    return;
  }
  const html = readFileSync(htmlPath, 'utf8').replaceAll('__WS_PATH__', options.wsPath);
  const script = readFileSync(new URL('demo.js', PUBLIC_DIR), 'utf8');
  const sdk = sdkModules(options.logger);

  app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
  app.get('/demo.js', (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script));
  app.get<{ Params: { file: string } }>('/sdk/:file', (request, reply) => {
    const source = sdk.get(request.params.file);
    if (source === undefined) return reply.code(404).type('text/plain').send('not found');
    return reply.type('text/javascript; charset=utf-8').send(source);
  });
}
