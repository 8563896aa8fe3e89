// The import map of src/ (src/README.md draws it), checked by `npm run lint`.
//
// Layers, bottom first; a folder may import only the folders listed for it:
//   core     → nothing of ours (domain types, errors, ip, hash, ring, health verdict, patterns)
//   config   → core
//   infra    → core, config                 (logger, metrics registry and catalogue, Redis factory)
//   storage  → core, config, infra          (every store contract and backend)
//   cluster  → core, config, infra, storage (node:cluster mechanism shared by both tiers)
//   dns      → core, config, infra, storage, cluster
//   proxy    → core, config, infra, storage, cluster
//   ops      → core, config, infra, storage
//   api      → core, config, infra, storage, ops
//   node     → everything but cli            (the composition root)
//   cli      → everything
// The two tiers never import each other, and nothing imports a layer above itself. Cycles are
// refused everywhere, type-only imports included.
const LAYERS = {
  core: [],
  config: ['core'],
  infra: ['core', 'config'],
  storage: ['core', 'config', 'infra'],
  cluster: ['core', 'config', 'infra', 'storage'],
  dns: ['core', 'config', 'infra', 'storage', 'cluster'],
  proxy: ['core', 'config', 'infra', 'storage', 'cluster'],
  ops: ['core', 'config', 'infra', 'storage'],
  api: ['core', 'config', 'infra', 'storage', 'ops'],
  node: ['core', 'config', 'infra', 'storage', 'cluster', 'dns', 'proxy', 'ops', 'api'],
  cli: ['core', 'config', 'infra', 'storage', 'cluster', 'dns', 'proxy', 'ops', 'api', 'node'],
};

const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may import only: ${allowed.length ? allowed.join(', ') : 'nothing of ours'} (.dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: '^src/', pathNot: [`^src/${layer}/`, ...allowed.map((a) => `^src/${a}/`)] },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-cycles',
      comment: 'Import cycles (type-only ones too) make the layering meaningless and the load order fragile.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-is-pure',
      comment:
        'src/core is pure: no I/O modules (node:net is allowed for its pure isIP/BlockList), no network libraries.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: {
        dependencyTypes: ['core', 'npm'],
        path: '^(node:)?(fs|dgram|http|http2|https|child_process|cluster|worker_threads)$|(^|/)node_modules/(ioredis|undici|dns2|fastify|pino|maxmind|prom-client)/',
      },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    // The web console's browser modules are served as files, not imported by the server; they
    // import each other and /console/... URLs.
    exclude: { path: '(^|/)(native/build|node_modules)/|^src/api/console/static/' },
  },
};
