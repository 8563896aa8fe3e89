// The actuator registry: one line per kind. A policy's `actuator.type` must be one of these keys;
// `createActuator` checks the rest of its block against that kind's schema.
import { MeridianError } from '../../../core/errors.js';
import type { Actuator, ActuatorContext, ActuatorKind } from '../actuator.js';
import { commandActuator } from './command.js';
import { kubernetesActuator } from './kubernetes.js';
import { webhookActuator } from './webhook.js';

const ACTUATORS: Readonly<Record<string, ActuatorKind<never>>> = {
  webhook: webhookActuator as ActuatorKind<never>,
  kubernetes: kubernetesActuator as ActuatorKind<never>,
  command: commandActuator as ActuatorKind<never>,
};

export const ACTUATOR_TYPES: readonly string[] = Object.keys(ACTUATORS);

/** The kind a block names, and its options checked against that kind's schema; E_CONFIG naming the field. */
function parseBlock(
  block: { readonly type: string } & Readonly<Record<string, unknown>>,
  field: string,
): { kind: ActuatorKind<never>; options: never } {
  const kind = Object.hasOwn(ACTUATORS, block.type) ? ACTUATORS[block.type] : undefined;
  if (kind === undefined) {
    throw new MeridianError(
      'E_CONFIG',
      `${field}.type: unknown actuator ${JSON.stringify(block.type)}; expected one of ${ACTUATOR_TYPES.join(', ')}`,
      { field: `${field}.type` },
    );
  }
  const { type: _type, ...options } = block;
  const parsed = kind.schema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = [field, ...(issue?.path ?? []).map(String)].join('.');
    throw new MeridianError('E_CONFIG', `${at}: ${issue?.message ?? 'invalid'}`, { field: at });
  }
  return { kind, options: parsed.data };
}

/**
 * Checks every policy's actuator block without building anything (no file read, no connection), so
 * `meridian serve` refuses a bad one before it opens the stores (as `checkProxyConfig` does).
 */
export function checkAutoscaleConfig(config: {
  readonly regions: readonly {
    readonly actuator: { readonly type: string } & Readonly<Record<string, unknown>>;
  }[];
}): void {
  config.regions.forEach((policy, i) => parseBlock(policy.actuator, `autoscale.regions[${i}].actuator`));
}

/**
 * Builds the actuator a policy names. A bad block is E_CONFIG naming `field` (e.g.
 * `autoscale.regions[0].actuator.url`), so the node refuses to start instead of failing later.
 */
export function createActuator(
  block: { readonly type: string } & Readonly<Record<string, unknown>>,
  field: string,
  context: ActuatorContext,
): Actuator {
  const { kind, options } = parseBlock(block, field);
  try {
    return kind.create(options, context);
  } catch (err) {
    if (err instanceof MeridianError) {
      throw new MeridianError('E_CONFIG', `${field}: ${err.message}`, {
        field: `${field}.${err.field ?? ''}`,
      });
    }
    throw err;
  }
}
