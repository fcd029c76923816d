import { createRequire } from 'node:module';

/**
 * YAML parsing, with the yaml library loaded on first use: an agent started without a config file and with the
 * pipeline's parsed copy (src/pipeline/precompiled.ts) never loads its ~70 modules (docs/footprint.md, start-up).
 * `require`, not `import()`: its callers are synchronous, and under Node the package's `node` export is this same
 * CommonJS build either way, so nothing is loaded twice.
 */
const require = createRequire(import.meta.url);

export function parseYaml(text: string): unknown {
  return (require('yaml') as typeof import('yaml')).parse(text);
}
