// Schema of `secrets:`, where the keys for encryption at rest come from (infra/secrets/). The keys
// themselves never sit in this file or in the state: a key file (0600) or MERIDIAN_KEYS.
import { z } from 'zod';

export const secretsSchema = z.strictObject({
  /**
   * A file of `<key id>:<base64 of 32 bytes>` lines (`#` comments); must be mode 0600 or stricter.
   * Relative to the config file. MERIDIAN_KEYS adds keys in the same format (lines or commas).
   */
  keyFile: z.string().min(1).optional(),
  /**
   * The key id new values are sealed with; MERIDIAN_ACTIVE_KEY overrides it. Needed when the ring
   * holds more than one key; with one key, that key is active.
   */
  activeKey: z.string().min(1).optional(),
});

export type SecretsConfig = z.infer<typeof secretsSchema>;
