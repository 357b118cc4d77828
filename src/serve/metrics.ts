// Counters an operator watches, rendered in Prometheus' text exposition format (GET /metrics). A few lines of
// text rather than prom-client: the app also runs in workerd, where Node-only modules are not available.

/** Time-to-first-token buckets, seconds (cumulative, as Prometheus histograms are). */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** tokens/s is measured over this many recent seconds */
const RATE_WINDOW_S = 10;

export interface Gauges {
  active: number;
  queued: number;
}

export class Metrics {
  private readonly byStatus = new Map<number, number>();
  private readonly ttftCounts = new Array<number>(TTFT_BUCKETS.length).fill(0);
  private ttftSum = 0;
  private ttftCount = 0;
  private tokens = 0;
  /** generated tokens per second of wall time, the last RATE_WINDOW_S seconds (ring indexed by second) */
  private readonly perSecond = new Array<number>(RATE_WINDOW_S).fill(0);
  private readonly secondOf = new Array<number>(RATE_WINDOW_S).fill(-1);

  request(status: number): void { this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1); }

  firstToken(seconds: number): void {
    this.ttftSum += seconds;
    this.ttftCount++;
    const i = TTFT_BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) this.ttftCounts[i]++;
  }

  token(nowMs = Date.now()): void {
    this.tokens++;
    const sec = Math.floor(nowMs / 1000), slot = sec % RATE_WINDOW_S;
    if (this.secondOf[slot] !== sec) { this.secondOf[slot] = sec; this.perSecond[slot] = 0; }
    this.perSecond[slot]++;
  }

  tokensPerSecond(nowMs = Date.now()): number {
    const sec = Math.floor(nowMs / 1000);
    let n = 0;
    // the current second is still filling: average over the RATE_WINDOW_S - 1 complete seconds before it
    for (let s = sec - RATE_WINDOW_S + 1; s < sec; s++) if (this.secondOf[s % RATE_WINDOW_S] === s) n += this.perSecond[s % RATE_WINDOW_S];
    return n / (RATE_WINDOW_S - 1);
  }

  render(g: Gauges): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    metric('webtune_http_requests_total', 'counter', 'HTTP responses by status code.',
      [...this.byStatus].sort((a, b) => a[0] - b[0]).map(([code, n]) => `webtune_http_requests_total{code="${code}"} ${n}`));
    metric('webtune_queue_depth', 'gauge', 'Requests admitted and waiting for a generation slot.', [`webtune_queue_depth ${g.queued}`]);
    metric('webtune_active_sequences', 'gauge', 'Requests generating now.', [`webtune_active_sequences ${g.active}`]);
    metric('webtune_generation_tokens_total', 'counter', 'Completion tokens generated.', [`webtune_generation_tokens_total ${this.tokens}`]);
    metric('webtune_generation_tokens_per_second', 'gauge', `Completion tokens per second over the last ${RATE_WINDOW_S - 1} s.`,
      [`webtune_generation_tokens_per_second ${this.tokensPerSecond().toFixed(1)}`]);
    let cum = 0;
    metric('webtune_time_to_first_token_seconds', 'histogram', 'From admission to the first generated token.', [
      ...TTFT_BUCKETS.map((b, i) => `webtune_time_to_first_token_seconds_bucket{le="${b}"} ${(cum += this.ttftCounts[i])}`),
      `webtune_time_to_first_token_seconds_bucket{le="+Inf"} ${this.ttftCount}`,
      `webtune_time_to_first_token_seconds_sum ${this.ttftSum.toFixed(6)}`,
      `webtune_time_to_first_token_seconds_count ${this.ttftCount}`,
    ]);
    const rss = residentBytes();
    if (rss !== undefined) metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [`process_resident_memory_bytes ${rss}`]);
    return `${out.join('\n')}\n`;
  }
}

/** Node's process.memoryUsage or Deno.memoryUsage; undefined in an edge isolate (no such API). */
function residentBytes(): number | undefined {
  const g = globalThis as { process?: { memoryUsage?: () => { rss: number } }; Deno?: { memoryUsage?: () => { rss: number } } };
  try { return g.Deno?.memoryUsage ? g.Deno.memoryUsage().rss : g.process?.memoryUsage?.().rss; } catch { return undefined; }
}
