// What carries a scaling decision out: one small interface, one file per kind in actuators/, and one
// registry line (actuators/index.ts). An actuator's options come from the policy's `actuator` config
// block; its own zod schema checks them when the node starts, so a bad option fails the start with
// the field named. `scale` throws on failure (the autoscaler logs, counts and alerts it, and tries
// again at the next evaluation); it never changes anything in Meridian's own state.
import type { z } from 'zod';
import type { Logger } from '../../infra/logger.js';

export interface ScaleRequest {
  readonly region: string;
  readonly action: 'scale-up' | 'scale-down';
  readonly current: number;
  readonly desired: number;
  readonly reasons: readonly string[];
  readonly metric: string;
  /** The metric per backend the decision used. */
  readonly value?: number;
  /** When it was decided (ms epoch) and by which node. */
  readonly decidedAt: number;
  readonly node: string;
}

export interface Actuator {
  readonly type: string;
  /**
   * The count the scaled target really has, for actuators that can read it (the Kubernetes scale
   * subresource); without it the autoscaler counts the region's backends in the state store.
   */
  current?(signal: AbortSignal): Promise<number>;
  /** Asks for `desired` backends; resolves with a short note for the status, throws on failure. */
  scale(request: ScaleRequest, signal: AbortSignal): Promise<string>;
  close?(): Promise<void>;
}

export interface ActuatorContext {
  /** Resolves a path of the configuration (relative to the config file). */
  readonly resolvePath: (path: string) => string;
  readonly log: Logger;
}

export interface ActuatorKind<Options> {
  /** The actuator's options (the config block without `type`). */
  readonly schema: z.ZodType<Options>;
  create(options: Options, context: ActuatorContext): Actuator;
}

/** Declares an actuator kind with its option type tied to its schema. */
export function actuatorKind<Options>(kind: ActuatorKind<Options>): ActuatorKind<Options> {
  return kind;
}
