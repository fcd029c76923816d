import { describe, expect, it } from 'vitest';
import { loadPipeline, parsePipeline, PipelineError } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';

describe('pipeline as data', () => {
  const p = loadPipeline();
  const t = new PipelineTables(p);

  it('loads the shipped pipeline with ascending tables and miss flows for each', () => {
    expect(p.tables.map((x) => x.name)).toContain('classifier');
    expect(t.missFlows()).toHaveLength(p.tables.length);
    expect(t.tableNames().get(t.id('l2_lookup'))).toBe('l2_lookup');
  });

  it('guards tables: owner, declared match fields and next tables', () => {
    expect(() => t.forApp('l2').table('classifier')).toThrow(PipelineError);
    const lookup = t.forApp('l2').table('l2_lookup');
    expect(() => lookup.flow({ priority: 1, match: [{ field: 'ipv4_dst', value: '10.0.0.1' }], object: 1 })).toThrow(/ipv4_dst/);
    expect(() => lookup.flow({ priority: 1, match: [], goto: 'classifier', object: 1 })).toThrow(/may not go to/);
    const ok = lookup.flow({ priority: 1, match: [{ field: 'eth_dst', value: '02:00:00:00:00:01' }], goto: 'egress', object: 7 });
    expect(t.decodeCookie(ok.cookie)).toEqual({ app: 'l2', object: 7n });
  });

  it('rejects bad documents with a clear error', () => {
    const bad = (s: string) => () => parsePipeline(s);
    expect(bad('tables: []')).toThrow(/no tables/);
    expect(
      bad(`tables:
  - {id: 1, name: a, owner: x, miss: drop, next: [b]}
  - {id: 0, name: b, owner: x, miss: drop}
cookies: {apps: {x: 1, pipeline: 2}}`),
    ).toThrow(/ascending|forward/);
    expect(
      bad(`tables:
  - {id: 0, name: a, owner: x, miss: next}
cookies: {apps: {x: 1, pipeline: 2}}`),
    ).toThrow(/no next/);
  });
});
