/**
 * The import boundaries of GUIDE.md §2 are lint rules (eslint.config.js): each deliberate violation below is
 * refused, and the same file without it passes. CI runs the linter on the whole tree (scripts/test).
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['src/apps/l2/x.ts', "import { Agent } from '../../agent/agent.js';\nexport const a = Agent;\n", /never import the agent/],
    ['src/apps/arp/x.ts', "import { l3App } from '../l3/index.js';\nexport const a = l3App;\n", /never imports another app/],
    ['src/openflow/x.ts', "import { TopologyView } from '../view/index.js';\nexport const a = TopologyView;\n", /codec and packet layers/],
    ['src/packet/x.ts', "import { Agent } from '../agent/agent.js';\nexport const a = Agent;\n", /codec and packet layers/],
    ['src/model/x.ts', "import { EtcdStore } from '../store/etcd.js';\nexport const a = EtcdStore;\n", /never a store implementation/],
  ])(
    '%s: the violation is refused',
    async (file, code, message) => {
      const found = await restricted(file, code);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(message);
    },
    30_000,
  );

  it('what is allowed passes: an app reads the view and the platform, the model the store interface', async () => {
    expect(
      await restricted(
        'src/apps/l2/x.ts',
        "import { TopologyView } from '../../view/index.js';\nimport type { App } from '../platform.js';\nexport const a: App | TopologyView | undefined = undefined;\n",
      ),
    ).toEqual([]);
    expect(
      await restricted(
        'src/model/x.ts',
        "import type { Store } from '../store/types.js';\nexport const s: Store | undefined = undefined;\n",
      ),
    ).toEqual([]);
  }, 30_000);
});
