// The command hook: runs a program with execFile (no shell, so nothing in the reasons or the config
// is ever interpreted), with a timeout. `{region}`, `{desired}`, `{current}` and `{action}` in
// `args` are replaced by the decision's values; the environment holds only PATH, the configured
// `env` and MERIDIAN_AUTOSCALE_REGION / _DESIRED / _CURRENT / _ACTION / _REASONS (one per line),
// not the node's own environment (which may hold the API token). Exit code 0 is success; anything
// else fails with the end of its stderr.
import { execFile } from 'node:child_process';
import { z } from 'zod';
import { actuatorKind, type ScaleRequest } from '../actuator.js';

const schema = z.strictObject({
  /** The program: an absolute path, or relative to the config file. */
  command: z.string().min(1),
  args: z.array(z.string()).max(100).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  timeoutMs: z.number().int().positive().max(600_000).default(30_000),
});

const MAX_OUTPUT = 64 * 1024;

function fill(arg: string, req: ScaleRequest): string {
  return arg.replace(/\{(region|desired|current|action)\}/g, (_m, key: string) => {
    switch (key) {
      case 'region':
        return req.region;
      case 'desired':
        return String(req.desired);
      case 'current':
        return String(req.current);
      default:
        return req.action;
    }
  });
}

const tail = (text: string): string => {
  const t = text.trim();
  return t.length > 300 ? `…${t.slice(-300)}` : t;
};

export const commandActuator = actuatorKind({
  schema,
  create(options, context) {
    const command = context.resolvePath(options.command);
    return {
      type: 'command',
      scale(req, signal) {
        const env: NodeJS.ProcessEnv = {
          ...(process.env.PATH === undefined ? {} : { PATH: process.env.PATH }),
          ...options.env,
          MERIDIAN_AUTOSCALE_REGION: req.region,
          MERIDIAN_AUTOSCALE_DESIRED: String(req.desired),
          MERIDIAN_AUTOSCALE_CURRENT: String(req.current),
          MERIDIAN_AUTOSCALE_ACTION: req.action,
          MERIDIAN_AUTOSCALE_REASONS: req.reasons.join('\n'),
        };
        return new Promise((resolve, reject) => {
          execFile(
            command,
            options.args.map((a) => fill(a, req)),
            {
              env,
              timeout: options.timeoutMs,
              killSignal: 'SIGKILL',
              maxBuffer: MAX_OUTPUT,
              signal,
              shell: false,
            },
            (err, stdout, stderr) => {
              if (err === null) {
                resolve(tail(stdout) === '' ? `${command} exited 0` : `${command}: ${tail(stdout)}`);
                return;
              }
              const e = err as Error & { killed?: boolean; code?: unknown };
              const exitCode = typeof e.code === 'number' ? e.code : undefined;
              const why =
                e.killed === true
                  ? `timed out after ${options.timeoutMs} ms`
                  : exitCode !== undefined
                    ? `exited ${exitCode}`
                    : e.message;
              const said = tail(stderr);
              reject(new Error(`command ${command} ${why}${said === '' ? '' : `: ${said}`}`));
            },
          );
        });
      },
    };
  },
});
