import type { Server as NetServer } from 'node:net';
import { PortInUseError } from './errors.js';

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** The setting that chose the port, named in the error when it is taken (e.g. `MQTT_PORT`). */
  readonly setting: string;
}

/**
 * Listens and resolves to the bound port. A taken port becomes a {@link PortInUseError}
 * whose one-line message names the setting to change.
 */
export function listen(server: NetServer, options: ListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        reject(new PortInUseError(options.setting, options.host, options.port, error.code, { cause: error }));
      } else reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : options.port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port, options.host);
  });
}

/** `host:port` for printing, with `0.0.0.0`/`::` shown as `localhost`. */
export function displayAddress(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${shown}:${port}`;
}
