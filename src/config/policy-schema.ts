// Schema of traffic policies (rate limits, bandwidth limits, WAF rules, quotas). The stores, the
// admin API and the CLI validate with it, so every entry point refuses the same input with the same
// message. Types are inferred from the schema.
import { z } from 'zod';
import { invalid } from '../core/errors.js';
import { parseCidr } from '../core/ip.js';
import { controlCharacterProblem } from '../core/validate.js';
import { patternProblem } from '../core/pattern.js';
import { id, positiveInt } from './primitives.js';

export const POLICY_TYPES = ['rate_limit', 'bandwidth_limit', 'waf', 'quota'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/**
 * Who a limit counts for:
 * - `client_ip`: the client address the proxy resolved;
 * - `header:<name>`: that request header's value (e.g. an API key);
 * - `cookie`: the request's affinity key (the proxy's session cookie); `cookie:<name>`: that cookie.
 * A request without the header or cookie is counted by its client IP, so omitting it bypasses nothing.
 */
const clientKey = z
  .string()
  .refine(
    (s) =>
      s === 'client_ip' ||
      s === 'cookie' ||
      (s.startsWith('header:') && HEADER_NAME.test(s.slice(7))) ||
      (s.startsWith('cookie:') && COOKIE_NAME.test(s.slice(7))),
    { message: 'expected client_ip, cookie, cookie:<name> or header:<name>' },
  );

/** A quota also counts per tenant: `label:<header>` = the tenant named by that request header. */
const quotaKey = z
  .string()
  .refine((s) => clientKey.safeParse(s).success || (s.startsWith('label:') && HEADER_NAME.test(s.slice(6))), {
    message: 'expected client_ip, cookie, cookie:<name>, header:<name> or label:<tenant-header>',
  });

const scope = z.string().refine((s) => s === 'global' || id.safeParse(s).success, {
  message: "expected 'global' or a region id",
});

const common = {
  id,
  enabled: z.boolean().default(true),
  description: z
    .string()
    .max(500)
    .superRefine((text, ctx) => {
      const problem = controlCharacterProblem(text);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(''),
  /** `global` applies on every proxy; a region id only on that region's proxies. */
  scope: scope.default('global'),
};

const positiveNumber = z.number({ message: 'expected a positive number' }).positive().finite();

export const rateLimitSchema = z.strictObject({
  ...common,
  type: z.literal('rate_limit'),
  /** Tokens added per second. */
  rate: positiveNumber.max(1_000_000),
  /** Bucket size: the most requests allowed at once after an idle period. */
  burst: positiveInt.max(10_000_000),
  key: clientKey.default('client_ip'),
  /** `local`: per proxy, no I/O. `cluster`: one bucket in Redis shared by every proxy. */
  mode: z.enum(['local', 'cluster']).default('local'),
});

export const bandwidthLimitSchema = z.strictObject({
  ...common,
  type: z.literal('bandwidth_limit'),
  /** Response bytes per second per client key, summed across all of that client's connections. */
  bytesPerSecond: positiveInt.min(1024, { message: 'expected at least 1024 bytes per second' }),
  /** Bytes a client may receive at once after being idle (default: 1/20 s of rate, at least 16 KiB). */
  burstBytes: positiveInt.optional(),
  key: clientKey.default('client_ip'),
});

export const WAF_TARGET_MESSAGE = 'expected path, query, method, client_ip or header:<name>';

export const wafRuleSchema = z
  .strictObject({
    id,
    /** An RE2 pattern; for target `client_ip` a CIDR or a comma-separated list of CIDRs. */
    pattern: z.string().min(1).max(1000),
    target: z
      .string()
      .refine(
        (s) =>
          ['path', 'query', 'method', 'client_ip'].includes(s) ||
          (s.startsWith('header:') && HEADER_NAME.test(s.slice(7))),
        { message: WAF_TARGET_MESSAGE },
      ),
    action: z.enum(['block', 'allow', 'log']),
    /** Lower runs first; the first matching block or allow rule decides. */
    priority: z.number().int().min(0).max(1_000_000).default(100),
    enabled: z.boolean().default(true),
  })
  .superRefine((rule, ctx) => {
    if (rule.target === 'client_ip') {
      for (const part of rule.pattern.split(',')) {
        if (parseCidr(part.trim()) === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['pattern'],
            message: `expected a CIDR such as 192.0.2.0/24, got ${JSON.stringify(part.trim())}`,
          });
        }
      }
      return;
    }
    const problem = patternProblem(rule.pattern);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['pattern'], message: problem });
  });

export const wafSchema = z
  .strictObject({
    ...common,
    type: z.literal('waf'),
    rules: z.array(wafRuleSchema).min(1).max(1000),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      seen.add(r.id);
    });
  });

export const QUOTA_PERIODS = ['minute', 'hour', 'day'] as const;
export type QuotaPeriod = (typeof QUOTA_PERIODS)[number];

export const quotaSchema = z.strictObject({
  ...common,
  type: z.literal('quota'),
  /** Requests allowed per period and key. */
  limit: positiveInt,
  /** Calendar periods in UTC: a minute/hour/day quota resets at the start of the next one. */
  period: z.enum(QUOTA_PERIODS),
  key: quotaKey.default('client_ip'),
});

export const policySchema = z.discriminatedUnion('type', [
  rateLimitSchema,
  bandwidthLimitSchema,
  wafSchema,
  quotaSchema,
]);

export type Policy = z.infer<typeof policySchema>;
export type RateLimitPolicy = z.infer<typeof rateLimitSchema>;
export type BandwidthLimitPolicy = z.infer<typeof bandwidthLimitSchema>;
export type WafPolicy = z.infer<typeof wafSchema>;
export type WafRule = z.infer<typeof wafRuleSchema>;
export type QuotaPolicy = z.infer<typeof quotaSchema>;
/** What a caller sends: defaults may be left out. */
export type PolicyInput = z.input<typeof policySchema>;

function pathText(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? 'body' : out;
}

/**
 * Validates one policy. Throws MeridianError E_VALIDATION whose `field` is the dotted path of the
 * first problem (prefixed with `fieldPrefix`, e.g. `policies[3]` for an import), and whose message
 * lists every problem found.
 */
export function parsePolicy(input: unknown, fieldPrefix = ''): Policy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(fieldPrefix === '' ? 'body' : fieldPrefix, 'expected a policy object');
  }
  const type = (input as { type?: unknown }).type;
  if (!(POLICY_TYPES as readonly unknown[]).includes(type)) {
    throw invalid(
      pathText(fieldPrefix, ['type']),
      `expected one of ${POLICY_TYPES.join(', ')}, got ${JSON.stringify(type)}`,
    );
  }
  const result = policySchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0];
  const firstPath =
    first?.code === 'unrecognized_keys' ? [...first.path, first.keys[0] ?? ''] : (first?.path ?? []);
  const field = pathText(fieldPrefix, firstPath);
  const message = issues
    .map((issue) => {
      const where = pathText(fieldPrefix, issue.path);
      if (issue.code === 'unrecognized_keys') return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message.replace(/^Invalid input: /, '')}`;
    })
    .join('; ');
  throw invalid(field, message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message);
}
