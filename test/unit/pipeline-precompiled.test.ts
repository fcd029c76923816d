/**
 * The pipeline's parsed copy made at build time (src/pipeline/precompiled.ts): used only for the exact YAML text
 * it was made from; a stale, foreign or broken copy is never used (the YAML is parsed instead).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultPipelinePath, loadPipeline, parsePipeline } from '../../src/pipeline/pipeline.js';
import { parsePipelineYaml, PRECOMPILED_FILE, yamlSha256 } from '../../src/pipeline/precompiled.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-precompiled-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const copy = (name: string, body: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
};

describe('precompiled pipeline', () => {
  const text = readFileSync(defaultPipelinePath(), 'utf8');

  it('a copy made from this very text is used as is', () => {
    // A marker document with the text's hash: it comes back, so the copy (not the YAML) was read.
    const p = copy('match.json', { sha256: yamlSha256(text), source: 'x', doc: { marker: 1 } });
    expect(parsePipelineYaml(text, p)).toEqual({ marker: 1 });
  });

  it('a stale copy (another text) is never used: the YAML is parsed', () => {
    const edited = `${text}\n# edited after the build\n`;
    const p = copy('stale.json', { sha256: yamlSha256(text), source: 'x', doc: { marker: 1 } });
    expect(parsePipelineYaml(edited, p)).toEqual(parse(edited));
  });

  it('a missing, broken or hash-less copy falls back to the YAML', () => {
    const want = parse(text);
    expect(parsePipelineYaml(text, join(dir, 'none.json'))).toEqual(want);
    expect(parsePipelineYaml(text, copy('broken.json', '{"sha256": "'))).toEqual(want);
    expect(parsePipelineYaml(text, copy('nohash.json', { doc: { marker: 1 } }))).toEqual(want);
    expect(parsePipelineYaml(text, undefined)).toEqual(want);
  });

  it("the build's copy in dist/ matches pipelines/default.yaml and gives the same pipeline", () => {
    const built = join(import.meta.dirname, '../../dist/src/pipeline', PRECOMPILED_FILE);
    const body = JSON.parse(readFileSync(built, 'utf8')) as { sha256: string; doc: unknown };
    expect(body.sha256).toBe(yamlSha256(text));
    expect(body.doc).toEqual(parse(text));
    expect(loadPipeline()).toEqual(parsePipeline(text, defaultPipelinePath()));
  });
});
