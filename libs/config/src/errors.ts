import { defineError } from '@protomesh/errors';

/** One or more settings are invalid; the message lists each as `path (ENV): problem`. */
export const ConfigInvalidError = defineError(
  'PM_CONFIG_INVALID',
  'ConfigInvalidError',
  'A setting from the environment or the YAML file is missing, malformed or out of range.',
  (problems: readonly string[]) => `invalid configuration:\n  ${problems.join('\n  ')}`,
);

/** The YAML configuration file could not be read or parsed. */
export const ConfigFileError = defineError(
  'PM_CONFIG_FILE',
  'ConfigFileError',
  'The YAML configuration file named by PROTOMESH_CONFIG could not be read or parsed.',
  (file: string, reason: string) => `configuration file ${file}: ${reason}`,
);

/** Every error code of this package, for documentation checks. */
export const CONFIG_ERRORS = [ConfigInvalidError, ConfigFileError] as const;
