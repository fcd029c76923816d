#!/usr/bin/env node
// Writes dist/src/pipeline/default.parsed.json: pipelines/default.yaml parsed once at build time, with the SHA-256
// of the text it was parsed from. The agent uses it only when that hash matches the YAML it reads at start
// (src/pipeline/precompiled.ts), so the YAML stays the one source and an outdated copy is never used.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = 'pipelines/default.yaml';
const text = readFileSync(join(root, source), 'utf8');
const out = join(root, 'dist/src/pipeline/default.parsed.json');
mkdirSync(dirname(out), { recursive: true });
const body = { sha256: createHash('sha256').update(text).digest('hex'), source, doc: parse(text) };
writeFileSync(`${out}.tmp`, JSON.stringify(body) + '\n');
renameSync(`${out}.tmp`, out);
