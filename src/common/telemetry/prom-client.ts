// The four prom-client classes Herald uses, from their own modules: the
// package's index also loads every default metric, and with them
// @opentelemetry/api (~60 modules; 45-60 ms of CPU uncached, ~9 ms from the
// bundle, at every daemon's start). The types are the package's own.
// lib/ is not the package's public API: package.json pins prom-client to
// one exact version, and every daemon start (and its tests) loads these paths.
import type * as Prom from 'prom-client';
import CounterImpl from 'prom-client/lib/counter.js';
import GaugeImpl from 'prom-client/lib/gauge.js';
import HistogramImpl from 'prom-client/lib/histogram.js';
import RegistryImpl from 'prom-client/lib/registry.js';

export const Counter = CounterImpl;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = GaugeImpl;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = HistogramImpl;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export const Registry = RegistryImpl;
export type Registry = Prom.Registry;
