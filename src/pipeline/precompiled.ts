import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseYaml } from '../util/yaml.js';

/**
 * The pipeline's YAML, parsed once at build time (scripts/precompile-pipeline.mjs writes it next to the built
 * pipeline.js) instead of at every agent start: the yaml library and its parse cost ~25 ms quiet, ~90 ms with
 * loading, on the path to the first flows. `pipelines/default.yaml` stays the one source: the copy carries the
 * SHA-256 of the text it was made from and is used only for exactly that text; anything else (an edited YAML,
 * a stale or missing copy, another file) is parsed from the YAML. The copy is the raw document, so every check
 * of pipeline.ts still runs on it.
 */
export const PRECOMPILED_FILE = 'default.parsed.json';

export interface PrecompiledPipeline {
  /** SHA-256 (hex) of the YAML text. */
  sha256: string;
  /** Where it came from (for people reading the file). */
  source: string;
  /** What the yaml library's parse() returned for that text. */
  doc: unknown;
}

export function yamlSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The YAML document of `text`: the precompiled copy at `copyPath` when it was made from this very text, else parsed. */
export function parsePipelineYaml(text: string, copyPath: string | URL | undefined): unknown {
  if (copyPath !== undefined) {
    let copy: PrecompiledPipeline | undefined;
    try {
      copy = JSON.parse(readFileSync(copyPath, 'utf8')) as PrecompiledPipeline;
    } catch {
      copy = undefined; // none (a source checkout run through tsx), or unreadable: parse the YAML
    }
    if (copy && typeof copy.sha256 === 'string' && copy.sha256 === yamlSha256(text)) return copy.doc;
  }
  return parseYaml(text);
}
