import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface PackJson {
  files: { path: string }[];
}
interface Pkg {
  bin: Record<string, string>;
  exports: Record<string, { types: string; import: string }>;
  scripts: Record<string, string>;
}

// `npm pack` ships what a user of the exports and of the `wyvern` bin needs, and nothing else: the built JS and
// its typings under dist/src, the pipeline, LICENSE, README, package.json. (Its prepack builds dist/src from
// clean; here scripts are skipped, so the working tree's build is listed. The package test checks a clean pack.)
describe('npm pack', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Pkg;
  const files = (
    JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' })) as PackJson[]
  )[0]!.files.map((f) => f.path);

  it('contains only the built library, its typings, the agent bundle, the pipeline (and its parsed copy), LICENSE and README', () => {
    const allowed =
      /^(LICENSE|README\.md|package\.json|pipelines\/[^/]+\.yaml|dist\/src\/.+\.(js|d\.ts)|dist\/src\/pipeline\/default\.parsed\.json|dist\/agent\/(agent\.cjs|agent\.cjs\.map|agent\.cjs\.v8cache(\.json)?|boot\.cjs|default\.parsed\.json))$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    // The agent bundle's source map is the one map shipped: it maps a stack trace from the one-line bundle back.
    expect(files.filter((f) => /^dist\/(test|bench)\/|\.map$|^src\//.test(f))).toEqual(['dist/agent/agent.cjs.map']);
    expect(files).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'pipelines/default.yaml',
        'dist/agent/agent.cjs',
        'dist/agent/boot.cjs',
      ]),
    );
  });

  it("has every export's JS and typings and the bin", () => {
    const needed = [...Object.values(pkg.exports).flatMap((e) => [e.types, e.import]), ...Object.values(pkg.bin)].map((p) =>
      p.replace(/^\.\//, ''),
    );
    expect(needed.filter((p) => !files.includes(p))).toEqual([]);
  });

  it('builds from clean before packing', () => {
    expect(pkg.scripts.prepack).toMatch(/rm -rf dist\/src dist\/agent && npm run build/);
  });
});
