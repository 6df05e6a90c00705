/**
 * Counters and histograms for the hot path. prom-client's labelled children re-hash and re-validate
 * their labels and allocate on every inc()/observe(); these keep plain numbers per series instead
 * (an increment is an addition, an observation a scan of a dozen bounds) and turn them into
 * prom-client's metric objects only when scraped. They register on a prom-client Registry like its
 * own metrics, so one exposition holds both. Definitions still live in gateway-metrics.ts.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;

/** What prom-client's Registry reads from a metric's get() when it renders the exposition. */
interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: Array<{ readonly metricName?: string; readonly labels: Labels; readonly value: number }>;
  readonly aggregator: 'sum';
}

export class CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative; summed when scraped). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i] = this.counts[i]! + 1;
    this.sum += value;
    this.count += 1;
  }
}

interface FamilyOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registers: readonly Registry[];
}

/** A metric name with one series per label combination; series are created once and kept until removed. */
abstract class SeriesFamily<S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'histogram';
  readonly #labelNames: readonly string[];
  protected readonly series = new Map<string, { readonly labels: Labels; readonly series: S }>();

  constructor(options: FamilyOptions) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    // The registry only calls get() and reads name/help/type: a family renders like its own metrics.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in labelNames order). Callers cache the result: it joins a key. */
  labels(...values: string[]): S {
    if (values.length !== this.#labelNames.length) throw new Error(`${this.name} takes ${this.#labelNames.length} label values`);
    const key = values.join('\u0000');
    let entry = this.series.get(key);
    if (!entry) {
      const labels: Labels = {};
      this.#labelNames.forEach((name, i) => (labels[name] = values[i]!));
      entry = { labels, series: this.create() };
      this.series.set(key, entry);
    }
    return entry.series;
  }

  /** Drops every series whose labels include all of `labels` (a version that went away). Returns how many. */
  remove(labels: Readonly<Record<string, string>>): number {
    let removed = 0;
    for (const [key, entry] of this.series) {
      if (Object.entries(labels).every(([name, value]) => entry.labels[name] === value)) {
        this.series.delete(key);
        removed++;
      }
    }
    return removed;
  }

  protected abstract create(): S;
  abstract get(): ScrapedMetric;
}

export class CounterFamily extends SeriesFamily<CounterSeries> {
  readonly type = 'counter';

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  get(): ScrapedMetric {
    const values = [...this.series.values()].map(({ labels, series }) => ({ labels, value: series.value }));
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }
}

export class HistogramFamily extends SeriesFamily<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(options: FamilyOptions & { readonly buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }

  get(): ScrapedMetric {
    const values: ScrapedMetric['values'] = [];
    for (const { labels, series } of this.series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}
