// Shared helpers for the ops tests: a webhook receiver on loopback, a settable clock, polling.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegionInput } from '../../src/core/types.js';
import type { HealthReport } from '../../src/core/types.js';

export interface Receiver {
  readonly url: string;
  readonly bodies: unknown[];
  /** Requests seen (including failed ones). */
  hits: number;
  /** Decides each answer: a status, or 'hang' to never answer. Default 204. */
  respond: (hit: number) => number | 'hang';
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    bodies: [],
    hits: 0,
    respond: () => 204,
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      const hit = ++receiver.hits;
      const answer = receiver.respond(hit);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      if (answer >= 200 && answer < 300) receiver.bodies.push(JSON.parse(data));
      res.statusCode = answer;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A clock tests move by hand. */
export class Clock {
  constructor(public t = Date.now()) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function regionInput(id: string, over: Partial<RegionInput> = {}): RegionInput {
  return { id, lat: 50, lon: 8, ipv4: ['192.0.2.10'], ...over };
}

export function report(
  regionId: string,
  now: number,
  healthy: boolean,
  over: Partial<HealthReport> = {},
): HealthReport {
  return {
    regionId,
    reporterId: 'proxy-1',
    healthyBackends: healthy ? 2 : 0,
    totalBackends: 2,
    inFlight: 0,
    requestRate: 0,
    p95LatencyMs: 0,
    reportedAt: now,
    expiresAt: now + 10_000,
    ...over,
  };
}
