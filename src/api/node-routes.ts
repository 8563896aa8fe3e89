// Admin API view of the node registry: `GET /v1/nodes` lists every node that announced itself
// (storage/node-registry.ts) with its state (`up`, or `lost` once its heartbeat lapsed), measured on
// the store's clock so nodes with skewed clocks agree.
import { nodeState, type NodeEntry, type NodeRegistry, type NodeState } from '../storage/node-registry.js';
import type { ApiRoute } from './route.js';

export interface NodeView extends NodeEntry {
  readonly state: NodeState;
  /** Seconds since the node started. */
  readonly uptimeSeconds: number;
  /** Seconds since its last heartbeat. */
  readonly lastSeenSecondsAgo: number;
}

export function nodeView(entry: NodeEntry, now: number): NodeView {
  const started = Date.parse(entry.startedAt);
  return {
    ...entry,
    state: nodeState(entry, now),
    uptimeSeconds: Number.isFinite(started) ? Math.max(0, Math.round((now - started) / 1000)) : 0,
    lastSeenSecondsAgo: Math.max(0, Math.round((now - entry.lastSeen) / 1000)),
  };
}

export function nodeRoutes(deps: { readonly registry: Pick<NodeRegistry, 'list'> }): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/v1/nodes',
      access: 'read',
      handler: async () => {
        const { now, nodes } = await deps.registry.list();
        return { body: { now: new Date(now).toISOString(), nodes: nodes.map((n) => nodeView(n, now)) } };
      },
    },
  ];
}
