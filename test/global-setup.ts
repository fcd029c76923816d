import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Integration tests start agents as real processes from the built JS (dist/), exactly as installed.
 * Rebuild first when any source file is newer than the build, so a test never runs stale code.
 */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The repository root: the nearest directory up with a package.json (this file also runs built, from dist/). */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${import.meta.dirname}`);
    dir = up;
  }
  return dir;
}

export default function setup(): void {
  const root = repoRoot();
  let built = 0;
  try {
    built = statSync(join(root, 'dist/src/cli/main.js')).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (Math.max(newest(join(root, 'src')), newest(join(root, 'pipelines'))) > built) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    // The pipeline's parsed copy, as `npm run build` makes it (used only while it matches the YAML).
    execFileSync(process.execPath, ['scripts/precompile-pipeline.mjs'], { cwd: root, stdio: 'inherit' });
  }
}
