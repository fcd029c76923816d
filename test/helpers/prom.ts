/** /metrics read with a Prometheus text-format parser (parse-prometheus-text-format, prom2json's output shape). */
import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';

export type { PromFamily, PromSample };

export class Scrape {
  readonly families: Map<string, PromFamily>;
  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  family(name: string): PromFamily {
    const f = this.families.get(name);
    if (!f) throw new Error(`no metric family ${name} in /metrics (has ${[...this.families.keys()].join(', ')})`);
    return f;
  }

  /** A counter's or gauge's value for exactly these labels (0 when the series is absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    const s = this.family(name).metrics.find((m) => sameLabels(m.labels ?? {}, labels));
    return s?.value === undefined ? 0 : Number(s.value);
  }

  /** The sum over every series whose labels include these. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.family(name)
      .metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
      .reduce((a, m) => a + Number(m.value ?? 0), 0);
  }

  /** A histogram's observation count (unlabelled). */
  count(name: string): number {
    const f = this.family(name);
    if (f.type !== 'HISTOGRAM') throw new Error(`${name} is a ${f.type}, not a histogram`);
    return Number(f.metrics[0]?.count ?? 0);
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
