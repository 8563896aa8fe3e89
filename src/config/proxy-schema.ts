// Schema of the `proxy` section (the regional proxy tier). Owned by the proxy tier's work.
import { z } from 'zod';
import { hostPort, id } from './primitives.js';

export const proxySchema = z.strictObject({
  /** The region whose backends this proxy serves. */
  region: id,
  listen: z.array(hostPort).min(1).default(['127.0.0.1:8080']),
});

export type ProxyConfig = z.infer<typeof proxySchema>;
