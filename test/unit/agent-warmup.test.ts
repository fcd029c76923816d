import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { warmUp } from '../../src/agent/warmup.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';

describe('JIT warm-up', () => {
  it('runs the real compute, diff and encode path on a synthetic network, and sends nothing anywhere', async () => {
    const tables = new PipelineTables(loadPipeline());
    const messages = await warmUp(tables, APPS, 'geneve', 20);
    // The first round installs the whole synthetic network; each later one re-sends the moved port's flows.
    expect(messages).toBeGreaterThan(100);
  });
});
