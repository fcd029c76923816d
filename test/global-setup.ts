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

/** mtime of a file, 0 when missing. */
function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export default function setup(): void {
  const root = repoRoot();
  // The last outputs of `npm run build`: the CLI (tsc), and the agent bundle's code cache (written last).
  const built = Math.min(mtime(join(root, 'dist/src/cli/main.js')), mtime(join(root, 'dist/agent/agent.cjs.v8cache')));
  const sources = Math.max(
    newest(join(root, 'src')),
    newest(join(root, 'pipelines')),
    mtime(join(root, 'scripts/agent-boot.cjs')),
    mtime(join(root, 'scripts/bundle-agent.mjs')),
    mtime(join(root, 'scripts/train-agent-cache.mjs')),
  );
  if (sources > built) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    // The pipeline's parsed copy, as `npm run build` makes it (used only while it matches the YAML).
    execFileSync(process.execPath, ['scripts/precompile-pipeline.mjs'], { cwd: root, stdio: 'inherit' });
    // The agent bundle and its code cache (trained on real starts: this runs as root with Open vSwitch), which the
    // sandbox's agents run (as the package's launcher does).
    execFileSync(process.execPath, ['scripts/bundle-agent.mjs'], { cwd: root, stdio: 'inherit' });
  }
}
