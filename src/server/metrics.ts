// A small Prometheus registry: counters, gauges and histograms with labels, rendered in
// the text exposition format (version 0.0.4). Gauges that mirror engine state are read
// through callbacks at scrape time, so nothing on the write path updates them.

type Labels = Record<string, string>;

function labelText(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

export class Counter {
  private readonly values = new Map<string, { labels?: Labels; value: number }>();
  constructor(readonly name: string) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelText(labels);
    const e = this.values.get(k);
    if (e) e.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels?: Labels): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  lines(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`);
  }
}

export class Histogram {
  private readonly series = new Map<string, { labels?: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly buckets: number[],
  ) {}
  observe(value: number, labels?: Labels): void {
    const k = labelText(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      const base = s.labels ?? {};
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...base, le: num(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...base, le: "+Inf" })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly families: Family[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name);
    this.families.push({ name, help, type: "counter", render: () => c.lines() });
    return c;
  }

  histogram(name: string, help: string, buckets: number[]): Histogram {
    const h = new Histogram(name, buckets);
    this.families.push({ name, help, type: "histogram", render: () => h.lines() });
    return h;
  }

  /** A gauge (or counter) whose value(s) are read when scraped. */
  collect(name: string, help: string, type: "gauge" | "counter", read: () => number | [Labels, number][]): void {
    this.families.push({
      name,
      help,
      type,
      render: () => {
        const v = read();
        return typeof v === "number" ? [`${name} ${num(v)}`] : v.map(([l, x]) => `${name}${labelText(l)} ${num(x)}`);
      },
    });
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      out.push(...f.render());
    }
    return out.join("\n") + "\n";
  }
}
