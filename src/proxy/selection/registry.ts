// The algorithm family: one line per algorithm. Adding one = a file exporting a factory, a line
// here, and a traits entry in test/proxy/selection/balancers.test.ts (the contract suite refuses an
// algorithm without one).
import { createConsistentHash, type ConsistentHashOptions } from './consistent-hash.js';
import { createLeastConnections } from './least-connections.js';
import { createLeastResponseTime } from './least-response-time.js';
import { createPowerOfTwoChoices } from './power-of-two.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';
import { createWeightedRandom } from './weighted-random.js';
import { createWeightedRoundRobin } from './weighted-round-robin.js';
import type { Balancer } from './types.js';
import { invalid, MeridianError } from '../../core/errors.js';

export type { Balancer, BalancerFactory, Candidate, PickContext } from './types.js';

/** Tuning an algorithm may take from the config (only consistent_hash has any). */
export type BalancerOptions = ConsistentHashOptions;

const FACTORIES = {
  round_robin: () => createRoundRobin(),
  weighted_round_robin: () => createWeightedRoundRobin(),
  random: () => createRandom(),
  weighted_random: () => createWeightedRandom(),
  least_connections: () => createLeastConnections(),
  least_response_time: () => createLeastResponseTime(),
  power_of_two_choices: () => createPowerOfTwoChoices(),
  consistent_hash: (options?: BalancerOptions) => createConsistentHash(options),
} as const satisfies Record<string, (options?: BalancerOptions) => Balancer>;

export type BalancerName = keyof typeof FACTORIES;
export const BALANCER_NAMES = Object.freeze(Object.keys(FACTORIES)) as readonly BalancerName[];

export function isBalancerName(name: unknown): name is BalancerName {
  return typeof name === 'string' && Object.hasOwn(FACTORIES, name);
}

/**
 * The config layer takes any algorithm name (it sits below the tiers); the node checks it here at
 * start-up, so a typo stops `meridian serve` with a config error naming the key.
 */
export function checkBalancerName(name: string, key: string): void {
  if (!isBalancerName(name))
    throw new MeridianError(
      'E_CONFIG',
      `${key}: unknown algorithm ${JSON.stringify(name)}; expected one of ${BALANCER_NAMES.join(', ')}`,
    );
}

/** A fresh, independent balancer (one per pool: algorithms such as round robin keep state). */
export function createBalancer(name: string, options?: BalancerOptions): Balancer {
  if (!isBalancerName(name)) {
    throw invalid(
      'balancer',
      `unknown algorithm ${JSON.stringify(name)}; expected one of ${BALANCER_NAMES.join(', ')}`,
    );
  }
  return FACTORIES[name](options);
}
