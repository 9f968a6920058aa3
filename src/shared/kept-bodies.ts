/**
 * Bodies a worker keeps by key under a byte budget, the least recently used going first: what
 * a transform made of a whole file (its gzip), kept for the next response of the same file
 * (src/server/filters.ts). A changed file has another key; its old entry ages out.
 */
export class KeptBodies {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  /** `budget`: bytes kept in all; `entryMax`: a larger body is not kept. */
  constructor(
    readonly budget: number,
    readonly entryMax: number,
  ) {}

  /** The body kept under `key`, now the most recently used; undefined if none. */
  get(key: string): Buffer | undefined {
    const body = this.entries.get(key);
    if (body) {
      this.entries.delete(key);
      this.entries.set(key, body);
    }
    return body;
  }

  /** Keeps `body` under `key` (replacing what was), then lets the oldest go until the budget holds. */
  keep(key: string, body: Buffer): void {
    if (body.length > this.entryMax) return;
    this.drop(key);
    this.entries.set(key, body);
    this.bytes += body.length;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.budget) break;
      this.drop(oldest);
    }
  }

  /** Bytes kept now. */
  get size(): number {
    return this.bytes;
  }

  private drop(key: string): void {
    const body = this.entries.get(key);
    if (!body) return;
    this.entries.delete(key);
    this.bytes -= body.length;
  }
}
