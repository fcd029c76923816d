/**
 * prom-client's registry and metric types, each from its own module rather than from the package's index. The index
 * also loads what wyvern never uses, and every agent loaded it when its API started: the Summary with its t-digest,
 * the Pushgateway with node:zlib and node:https, cluster aggregation, and the default metrics, one of which loads
 * @opentelemetry/api (~50 modules) for exemplars (docs/footprint.md, sixteenth session). The process metrics are
 * src/api/process-metrics.ts. Each name is prom-client's class and its type.
 */
import type * as Prom from 'prom-client';
import counter from 'prom-client/lib/counter.js';
import gauge from 'prom-client/lib/gauge.js';
import histogram from 'prom-client/lib/histogram.js';
import registry from 'prom-client/lib/registry.js';

export const Registry = registry as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = counter as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = gauge as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = histogram as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
