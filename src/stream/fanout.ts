import type { LastValues } from "../feed/last-values.js";
import { Connection, type Sink } from "./connection.js";
import { formatEventId, resumeAfter } from "./event-id.js";
import { HEARTBEAT, quotesEvent } from "./sse-frames.js";
import { StreamCounters } from "./stream-counters.js";
import { SubscriptionGroup } from "./subscription-group.js";

export interface FanoutOptions {
  /** Longest silence before a comment line is sent. */
  readonly heartbeatMs: number;
  /** How often `heartbeat()` is called, so a silence never exceeds `heartbeatMs`. */
  readonly heartbeatSweepMs: number;
  /** A connection congested this long is closed. */
  readonly slowConsumerMs: number;
}

/**
 * The coalescing core: latest values in, one frame per connection per window out.
 * No sockets and no timers: the worker's edges call `tick`, `heartbeat` and `onWritable`
 * with the time, so every rule here is tested with an in-memory sink and a fake clock.
 *
 * Flow: `onQuote` marks a symbol changed (one Set insert per quote). `tick` hands the changes
 * to the subscription groups that hold the symbol, builds each due group's frame once (each
 * quote was serialized once, by the feed) and writes that one buffer to every member that is
 * in step; members that are congested or inside their own window are owed the symbols instead,
 * and get a frame of their own once they can take one.
 */
export class Fanout {
  readonly counters = new StreamCounters();
  readonly #values: LastValues;
  readonly #opts: FanoutOptions;
  readonly #groups = new Map<string, SubscriptionGroup>();
  readonly #groupsBySymbol = new Map<string, Set<SubscriptionGroup>>();
  readonly #connections = new Set<Connection>();
  /** Symbols changed since the last tick. */
  readonly #changed = new Set<string>();
  readonly #dirtyGroups = new Set<SubscriptionGroup>();
  /** Connections owed symbols outside their group's shared frames. */
  readonly #owed = new Set<Connection>();
  readonly #congested = new Set<Connection>();
  /** Connections waiting for the first full load of last values before their snapshot. */
  readonly #parked = new Set<Connection>();
  #epoch: string | null = null;

  constructor(values: LastValues, opts: FanoutOptions) {
    this.#values = values;
    this.#opts = opts;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get groupCount(): number {
    return this.#groups.size;
  }

  /** The id of an event built now: the stream position this worker has applied. */
  currentId(): string {
    return formatEventId(this.#epoch ?? "0", this.#values.position);
  }

  /**
   * The last values are loaded (the stream identified by `epoch` has been read up to its end):
   * snapshots are now complete, so send those that were waiting.
   */
  markLoaded(epoch: string, now: number): void {
    this.#epoch = epoch;
    for (const conn of this.#parked) this.#sendSnapshot(conn, now);
    this.#parked.clear();
  }

  /** A new subscriber. Its snapshot goes out at once, or as soon as the last values are loaded. */
  open(symbols: readonly string[], intervalMs: number, resumeId: string | undefined, sink: Sink, now: number): Connection {
    const group = this.#groupFor(symbols, intervalMs);
    const conn = new Connection(group, sink, resumeId, now);
    group.members.add(conn);
    this.#connections.add(conn);
    if (this.#epoch === null) this.#parked.add(conn);
    else this.#sendSnapshot(conn, now);
    return conn;
  }

  /** The socket is gone (client left, or we closed it): forget the connection. */
  remove(conn: Connection): void {
    if (conn.state === "closed") return;
    conn.state = "closed";
    this.#connections.delete(conn);
    this.#parked.delete(conn);
    this.#owed.delete(conn);
    this.#congested.delete(conn);
    const group = conn.group;
    group.members.delete(conn);
    if (group.members.size === 0) {
      this.#groups.delete(group.key);
      this.#dirtyGroups.delete(group);
      for (const sym of group.symbols) {
        const set = this.#groupsBySymbol.get(sym);
        if (set === undefined) continue;
        set.delete(group);
        if (set.size === 0) this.#groupsBySymbol.delete(sym);
      }
    }
  }

  /** Hot path: a new latest value for `sym` was applied. */
  onQuote(sym: string): void {
    this.#changed.add(sym);
  }

  /** The socket drained what it held: it may be written again (from the next tick on). */
  onWritable(conn: Connection): void {
    if (!conn.congested) return;
    conn.congestedSince = -1;
    this.#congested.delete(conn);
  }

  /** Called every flush window: writes every due frame, closes consumers congested too long. */
  tick(now: number): void {
    const started = performance.now();
    this.#distributeChanges();
    if (this.#dirtyGroups.size > 0 || this.#owed.size > 0) {
      const id = this.currentId();
      const wallNow = Date.now();
      for (const group of this.#dirtyGroups) {
        if (now - group.lastFlushAt < group.intervalMs) continue;
        this.#flushGroup(group, id, now, wallNow);
        this.#dirtyGroups.delete(group);
      }
      for (const conn of this.#owed) {
        if (conn.congested || now - conn.lastEventAt < conn.group.intervalMs) continue;
        this.#flushOwed(conn, id, now, wallNow);
      }
    }
    this.#closeSlowConsumers(now);
    this.counters.flushDuration.observe((performance.now() - started) / 1000);
  }

  /** Fill silences with a comment line; called every `heartbeatSweepMs`. */
  heartbeat(now: number): void {
    const due = this.#opts.heartbeatMs - this.#opts.heartbeatSweepMs;
    for (const conn of this.#connections) {
      // Never write to a congested socket, not even a comment: see Sink.
      if (conn.congested || now - conn.lastWriteAt < due) continue;
      this.#write(conn, HEARTBEAT, now);
      this.counters.heartbeatsSent++;
    }
  }

  /** Every open connection, for drain and shutdown. */
  connections(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  #groupFor(symbols: readonly string[], intervalMs: number): SubscriptionGroup {
    const key = SubscriptionGroup.keyOf(symbols, intervalMs);
    let group = this.#groups.get(key);
    if (group !== undefined) return group;
    group = new SubscriptionGroup(key, symbols, intervalMs);
    this.#groups.set(key, group);
    for (const sym of symbols) {
      let set = this.#groupsBySymbol.get(sym);
      if (set === undefined) this.#groupsBySymbol.set(sym, (set = new Set()));
      set.add(group);
    }
    return group;
  }

  #sendSnapshot(conn: Connection, now: number): void {
    const after = resumeAfter(conn.resumeId, this.#epoch!);
    const quotes = this.#values.collect(conn.group.symbols, after);
    // A resume id from a worker that had read further than this one keeps its place, so that
    // ids a client sees never go backwards.
    const seq = Math.max(after ?? 0, this.#values.position);
    conn.state = "live";
    conn.snapshotSeq = this.#values.highWater;
    this.#writeFrame(conn, quotesEvent("snapshot", formatEventId(this.#epoch!, seq), quotes), now);
  }

  #distributeChanges(): void {
    if (this.#changed.size === 0) return;
    for (const sym of this.#changed) {
      const groups = this.#groupsBySymbol.get(sym);
      if (groups === undefined) continue;
      for (const group of groups) {
        // A group with changes is already listed (dirty is cleared only when it is flushed):
        // skipping the second Set insert matters, this loop runs per quote per group.
        if (group.dirty.size === 0) this.#dirtyGroups.add(group);
        group.dirty.add(sym);
      }
    }
    this.#changed.clear();
  }

  #flushGroup(group: SubscriptionGroup, id: string, now: number, wallNow: number): void {
    let frame: Buffer | null = null;
    for (const conn of group.members) {
      if (conn.state !== "live") continue;
      if (conn.snapshotSeq >= 0) {
        const newer = this.#newerThan(group.dirty, conn.snapshotSeq);
        conn.snapshotSeq = -1;
        if (newer.length === 0) continue;
        if (newer.length < group.dirty.size) {
          conn.owe(newer);
          this.#owed.add(conn);
          continue;
        }
      }
      if (conn.congested || conn.pending !== null || now - conn.lastEventAt < group.intervalMs) {
        conn.owe(group.dirty);
        this.#owed.add(conn);
        continue;
      }
      // Built once, on first need, and shared: the same bytes for every member in step.
      frame ??= this.#buildFrame(group.dirty, id, wallNow);
      this.#writeFrame(conn, frame, now);
      conn.lastEventAt = now;
    }
    group.dirty.clear();
    group.lastFlushAt = now;
  }

  #newerThan(symbols: Iterable<string>, seq: number): string[] {
    const out: string[] = [];
    for (const sym of symbols) {
      const v = this.#values.get(sym);
      if (v !== undefined && v.streamSeq > seq) out.push(sym);
    }
    return out;
  }

  #flushOwed(conn: Connection, id: string, now: number, wallNow: number): void {
    const pending = conn.pending;
    conn.pending = null;
    this.#owed.delete(conn);
    if (pending === null || pending.size === 0) return;
    this.#writeFrame(conn, this.#buildFrame(pending, id, wallNow), now);
    conn.lastEventAt = now;
  }

  #buildFrame(symbols: Iterable<string>, id: string, wallNow: number): Buffer {
    const quotes: string[] = [];
    const latency = this.counters.publishToWrite;
    for (const sym of symbols) {
      const v = this.#values.get(sym);
      if (v === undefined) continue;
      quotes.push(v.json);
      latency.observe(Math.max(0, wallNow - v.ts) / 1000);
    }
    // One UTF-8 encoding per frame, not one per socket write.
    return Buffer.from(quotesEvent("quotes", id, quotes));
  }

  #writeFrame(conn: Connection, chunk: Buffer | string, now: number): void {
    this.counters.framesSent++;
    this.#write(conn, chunk, now);
  }

  #write(conn: Connection, chunk: Buffer | string, now: number): void {
    const ok = conn.sink.write(chunk);
    conn.lastWriteAt = now;
    this.counters.bytesSent += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (!ok && conn.state !== "closed") {
      conn.congestedSince = now;
      this.#congested.add(conn);
    }
  }

  #closeSlowConsumers(now: number): void {
    if (this.#congested.size === 0) return;
    for (const conn of this.#congested) {
      if (now - conn.congestedSince < this.#opts.slowConsumerMs) continue;
      this.counters.slowConsumerDisconnects++;
      this.remove(conn);
      conn.sink.close();
    }
  }
}
