/** `wyvern topology export|import` — the disaster-recovery path. */
import { readFile, writeFile } from 'node:fs/promises';
import { client, out, parse, positionals, printJson, run, UsageError, type Command } from './common.js';

const HELP = `usage:
  wyvern topology export [--output FILE]   snapshot of networks, subnets, ports and routers at one store revision
  wyvern topology import FILE|-            restore it (same ids; re-importing is a no-op; conflicts are refused)`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export const topologyCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const v = argv[0];
    if (v !== 'export' && v !== 'import')
      throw new UsageError(`${v === undefined ? 'missing command' : `unknown command "${v}"`}\n${HELP}`);
    const p = parse(argv.slice(1), v === 'export' ? { output: { type: 'string', short: 'o' } } : {});
    const c = client(p);
    if (v === 'export') {
      positionals(p, [], 'wyvern topology export [--output FILE]');
      const doc = await c.call('GET', '/v1/topology');
      const text = `${JSON.stringify(doc, null, 2)}\n`;
      if (p.values.output !== undefined) await writeFile(p.values.output as string, text);
      else process.stdout.write(text);
      return;
    }
    const [file] = positionals(p, ['FILE'], 'wyvern topology import FILE|-');
    const text = file === '-' ? await readStdin() : await readFile(file!, 'utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`${file} is not JSON: ${(e as Error).message}`);
    }
    const r = await c.call<{ written: number; unchanged: number; revision: number }>('PUT', '/v1/topology', doc);
    if (p.values.json) printJson(r);
    else
      out(
        r.written === 0
          ? `nothing to do: all ${r.unchanged} keys already match`
          : `imported: ${r.written} keys written, ${r.unchanged} already present`,
      );
  });
