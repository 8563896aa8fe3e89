// The `nodes` section: this node's entry in the node registry (storage/node-registry.ts) — how often
// it sends a heartbeat, how long one keeps it `up`, and when a lost node is forgotten. The main
// schema includes it as `nodes: nodesSchema.prefault({})`.
import { z } from 'zod';
import { positiveInt } from './primitives.js';

const seconds = z.number({ message: 'expected a number of seconds' }).min(0.05).max(3600);

export const nodesSchema = z
  .strictObject({
    /** Between two heartbeats. */
    heartbeatSeconds: seconds.default(5),
    /** A node whose last heartbeat is older than this is shown `lost` and alerted (node_lost). */
    expirySeconds: seconds.default(20),
    /** A lost node is removed from the registry after this long. */
    forgetAfterHours: positiveInt.max(24 * 365).default(24),
  })
  .refine((n) => n.expirySeconds > n.heartbeatSeconds, {
    message:
      'expirySeconds must be longer than heartbeatSeconds (a node would be lost between two heartbeats)',
    path: ['expirySeconds'],
  });

export type NodesConfig = z.infer<typeof nodesSchema>;
