import { defineError } from '@protomesh/errors';

/** A listener's port is taken; the message names the setting to change. */
export const PortInUseError = defineError(
  'PM_PORT_IN_USE',
  'PortInUseError',
  'A listener could not bind its port because another process uses it (or it is privileged).',
  (setting: string, host: string, port: number, reason: string) =>
    reason === 'EACCES'
      ? `port ${port} on ${host} needs privileges: set ${setting} to another port, e.g. ${setting}=${port + 10000}`
      : `port ${port} on ${host} is already in use: set ${setting} to a free port, e.g. ${setting}=${port + 1}`,
);

/** Every error code of this package, for documentation checks. */
export const TELEMETRY_ERRORS = [PortInUseError] as const;
