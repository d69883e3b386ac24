import type { LastValue, LastValues } from "../feed/last-values.js";
import { Connection, type Sink } from "./connection.js";
import { formatEventId, resumeAfter } from "./event-id.js";
import { deltaHead, FrameBuilder, quotesHead } from "./frame-builder.js";
import { HEARTBEAT, quotesEvent } from "./sse-frames.js";
import { StreamCounters } from "./stream-counters.js";
import { SubscriptionGroup } from "./subscription-group.js";
import { SymbolHistory } from "./symbol-history.js";
import { SymbolSlot } from "./symbol-slot.js";

/** What a subscriber asks of its stream beyond its symbols and interval. */
export interface StreamOptions {
  /** Updates as `event: delta` field deltas (GET /quotes?delta=1). Default false. */
  readonly delta?: boolean;
}

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
 * No sockets and no timers: the worker's edges call `beginTick`/`runTick` (or `tick`),
 * `heartbeat` and `onWritable` with the time, so every rule here is tested with an in-memory sink and a fake clock.
 *
 * Flow: every change is numbered. `onQuote` stamps the symbol's slot with the change's number
 * (and lists the slot on its first change since the last tick began). A tick marks the groups
 * holding a listed symbol dirty, then builds each due group's frame once, from its symbols
 * changed after the group's last frame (each quote was encoded once, by the feed), in one reused
 * buffer, and writes it to every member in step. A member that is congested or inside its own
 * window is left behind and owed: once it can take a frame it gets one of its own with its
 * symbols changed after its last one, each at its latest value, so what waits for a connection
 * is bounded by its subscription whatever the feed does.
 *
 * A tick runs in slices (`beginTick`, then `runTick` until it says it is done) so that the
 * worker can read the feed between them: a frame written late in a long tick carries the values
 * as they are when it is built, not as they were when the tick began. Frames remember the change
 * number they were built at, so a change that lands mid-tick goes out once, in whichever frame
 * of each connection is built first after it.
 */
export class Fanout {
  readonly counters = new StreamCounters();
  readonly #values: LastValues;
  readonly #opts: FanoutOptions;
  readonly #groups = new Map<string, SubscriptionGroup>();
  readonly #slots = new Map<string, SymbolSlot>();
  readonly #connections = new Set<Connection>();
  /** The number of the last tick begun (1 before any): slots changed since are listed for the next. */
  #tickNo = 1;
  /** The number of the latest change (`onQuote`): frames and snapshots record it as their mark. */
  #changeNo = 0;
  /**
   * Slots changed since the last tick began, each listed once: the first `#changedCount` entries
   * (a count, never a shorter `length`, which would hand the storage back and make the next
   * tick allocate it again).
   */
  readonly #changed: SymbolSlot[] = [];
  #changedCount = 0;
  /**
   * Every group in the order it was made (null where one was dropped, until compacted): ticks
   * walk groups in this order. A fixed order gives each connection its write at the same point
   * of every tick, so the time between two of its frames is one tick, not up to two as when the
   * order followed whichever symbol changed first.
   */
  readonly #order: (SubscriptionGroup | null)[] = [];
  #orderHoles = 0;
  /** Groups with their `dirty` flag set. */
  #dirtyCount = 0;
  /** A tick has begun and not finished: the order is not compacted under its walk. */
  #ticking = false;
  /** The running tick's time (the `now` it began with): every window of the tick is measured from it. */
  #tickNow = 0;
  /** `performance.now()` when the running tick began, for its duration. */
  #tickStarted = 0;
  /** Where the running tick's walk of `#order` resumes. */
  #cursor = 0;
  /** Connections behind their group's shared frames, owed a frame of their own. */
  readonly #owed = new Set<Connection>();
  readonly #congested = new Set<Connection>();
  /** Connections waiting for their snapshot: for the first full load of last values, or for their socket to drain. */
  readonly #parked = new Set<Connection>();
  readonly #frames = new FrameBuilder();
  /**
   * For the frame `#buildFrame` built last, the lowest change number a member may have seen and
   * still need all of it as built: its lowest change (full frames), or, for delta frames, the
   * lowest first change after the base the deltas were taken from.
   */
  #frameMinChange = 0;
  /** The frame `#flushOwed` built last, and for whom: valid until the next frame is built. */
  readonly #lastOwed: { group: SubscriptionGroup | null; after: number; changeNo: number; head: Uint8Array | null; frame: Buffer | null } = { group: null, after: -1, changeNo: -1, head: null, frame: null };
  /** This slice's event id, and its `delta` event head, made on first need. */
  #sliceId = "";
  #deltaHead: Buffer | null = null;
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

  /** Connections owed a frame of their own. */
  get owedCount(): number {
    return this.#owed.size;
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
    this.#sendParkedSnapshots(now);
  }

  /** A new subscriber. Its snapshot goes out at once, or as soon as the last values are loaded. */
  open(symbols: readonly string[], intervalMs: number, resumeId: string | undefined, sink: Sink, now: number, opts: StreamOptions = {}): Connection {
    const group = this.#groupFor(symbols, intervalMs, opts.delta === true);
    const conn = new Connection(group, sink, resumeId, now);
    group.add(conn);
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
    group.delete(conn);
    if (group.members.length === 0) {
      this.#groups.delete(group.key);
      if (group.dirty) this.#dirtyCount--;
      group.dirty = false;
      this.#order[group.orderIndex] = null;
      this.#orderHoles++;
      if (!this.#ticking) this.#compactOrder();
      for (const slot of group.slots) {
        slot.groups.delete(group);
        if (slot.groups.size === 0) this.#slots.delete(slot.sym);
      }
    }
  }

  /** Hot path: `value` is the new latest value of its symbol. One lookup, no allocation. */
  onQuote(value: LastValue): void {
    const slot = this.#slots.get(value.sym);
    if (slot === undefined) return;
    slot.value = value;
    slot.changeNo = ++this.#changeNo;
    if (slot.listedTick === this.#tickNo) return;
    slot.listedTick = this.#tickNo;
    this.#changed[this.#changedCount++] = slot;
  }

  /** The socket drained what it held: it may be written again (from the next tick on). */
  onWritable(conn: Connection): void {
    if (!conn.congested) return;
    conn.congestedSince = -1;
    this.#congested.delete(conn);
  }

  /** A whole flush tick at once (finishing one still running first): `beginTick` and `runTick` in one. */
  tick(now: number): void {
    this.beginTick(now);
    this.runTick(Number.POSITIVE_INFINITY);
  }

  /**
   * Called every flush window: starts a tick, whose writes `runTick` does. A tick still running
   * is finished first, at once.
   */
  beginTick(now: number): void {
    if (this.#ticking) this.runTick(Number.POSITIVE_INFINITY);
    this.#tickStarted = performance.now();
    this.#tickNow = now;
    this.#tickNo++;
    if (this.#parked.size > 0 && this.#epoch !== null) this.#sendParkedSnapshots(now);
    this.#markDirty();
    this.#cursor = 0;
    this.#ticking = true;
  }

  /**
   * Writes the running tick's due frames, at most `maxFrames` of them (then at least one):
   * true when the tick is done (or none was running). Between two calls anything may happen
   * (quotes, subscribers coming and going, drains, heartbeats): the frames built later carry the
   * values as they are then.
   */
  runTick(maxFrames: number): boolean {
    if (!this.#ticking) return true;
    const now = this.#tickNow;
    const stop = this.counters.framesSent + Math.max(1, maxFrames);
    if (this.#dirtyCount > 0 || this.#owed.size > 0) {
      // The event id and its bytes, once per slice for every frame of the slice.
      this.#sliceId = this.currentId();
      const head = quotesHead(this.#sliceId);
      this.#deltaHead = null;
      const wallNow = Date.now();
      const order = this.#order;
      // A member may leave during its write, or between slices: holes appear, but the walk is not
      // compacted under it.
      while (this.#cursor < order.length && this.#dirtyCount > 0) {
        if (this.counters.framesSent >= stop) return false;
        const group = order[this.#cursor++] ?? null;
        // Groups inside their interval stay dirty for a later tick.
        if (group === null || !group.dirty || now - group.lastFlushAt < group.intervalMs) continue;
        group.dirty = false;
        this.#dirtyCount--;
        this.#flushGroup(group, head, now, wallNow);
      }
      for (const conn of this.#owed) {
        if (conn.congested || now - conn.lastEventAt < conn.group.intervalMs) continue;
        if (this.counters.framesSent >= stop) return false;
        this.#flushOwed(conn, head, now, wallNow);
      }
    }
    this.#ticking = false;
    this.#closeSlowConsumers(now);
    this.#compactOrder();
    this.counters.flushDuration.observe((performance.now() - this.#tickStarted) / 1000);
    return true;
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

  #groupFor(symbols: readonly string[], intervalMs: number, delta: boolean): SubscriptionGroup {
    const key = SubscriptionGroup.keyOf(symbols, intervalMs, delta);
    let group = this.#groups.get(key);
    if (group !== undefined) return group;
    const slots = symbols.map((sym) => {
      let slot = this.#slots.get(sym);
      if (slot === undefined) this.#slots.set(sym, (slot = new SymbolSlot(sym, this.#values.get(sym))));
      return slot;
    });
    // Its first members' snapshots hold every change so far.
    group = new SubscriptionGroup(key, intervalMs, slots, this.#changeNo, delta);
    if (delta) {
      for (const slot of slots) slot.history ??= new SymbolHistory();
    }
    group.orderIndex = this.#order.push(group) - 1;
    this.#groups.set(key, group);
    for (const slot of slots) slot.groups.add(group);
    return group;
  }

  #sendParkedSnapshots(now: number): void {
    for (const conn of this.#parked) {
      // A heartbeat may have congested it while it waited: its snapshot waits for the drain.
      if (conn.congested) continue;
      this.#parked.delete(conn);
      this.#sendSnapshot(conn, now);
    }
  }

  #sendSnapshot(conn: Connection, now: number): void {
    const after = resumeAfter(conn.resumeId, this.#epoch!);
    const quotes: string[] = [];
    for (const slot of conn.group.slots) {
      const v = slot.value;
      if (v === undefined) continue;
      if (after === null || v.streamSeq > after) quotes.push(v.json);
      // A delta client holds this version now (sent, or unchanged since its resume id): the base
      // of its next deltas.
      if (conn.group.delta) slot.history!.sent(v.bytes, slot.changeNo);
    }
    // A resume id from a worker that had read further than this one keeps its place, so that
    // ids a client sees never go backwards.
    const seq = Math.max(after ?? 0, this.#values.position);
    conn.state = "live";
    // It holds every change so far, some of which its group's next frame may hold too.
    conn.sentMark = this.#changeNo;
    this.#writeFrame(conn, quotesEvent("snapshot", formatEventId(this.#epoch!, seq), quotes), now);
  }

  /** Close the holes in the flush order once they are many, keeping its order. */
  #compactOrder(): void {
    const order = this.#order;
    if (this.#orderHoles < 64 || this.#orderHoles * 2 < order.length) return;
    let n = 0;
    for (let i = 0; i < order.length; i++) {
      const group = order[i] ?? null;
      if (group === null) continue;
      group.orderIndex = n;
      order[n++] = group;
    }
    order.length = n;
    this.#orderHoles = 0;
  }

  /** Per changed symbol per group holding it: keep this loop to a flag test. */
  #markDirty(): void {
    const changed = this.#changed;
    const count = this.#changedCount;
    for (let i = 0; i < count; i++) {
      for (const group of changed[i]!.groups) {
        if (group.dirty) continue;
        group.dirty = true;
        this.#dirtyCount++;
      }
    }
    this.#changedCount = 0;
  }

  #flushGroup(group: SubscriptionGroup, head: Uint8Array, now: number, wallNow: number): void {
    const from = group.sentMark;
    const mark = this.#changeNo;
    group.sentMark = mark;
    group.lastFlushAt = now;
    let frame: Buffer | null | undefined;
    // Backwards: a member that leaves during its write (swapped with the last) skips no one.
    const members = group.members;
    for (let i = members.length - 1; i >= 0; i--) {
      const conn = members[i]!;
      if (conn.state !== "live") continue;
      if (conn.congested || conn.sentMark < from || now - conn.lastEventAt < group.intervalMs) {
        this.#owed.add(conn);
        continue;
      }
      // Built once, on first need, and shared: the same bytes for every member in step.
      if (frame === undefined) {
        frame = this.#buildFrame(group, from, head, wallNow);
        // The builder's buffer now holds this frame: the owed one it held is gone.
        this.#lastOwed.group = null;
      }
      if (frame !== null && conn.sentMark >= this.#frameMinChange) {
        // Its snapshot or a frame of its own already carried some of these quotes: it gets a
        // frame without them.
        this.#owed.add(conn);
        continue;
      }
      conn.sentMark = mark;
      if (frame === null) continue;
      this.#writeFrame(conn, frame, now);
      conn.lastEventAt = now;
    }
  }

  #flushOwed(conn: Connection, head: Uint8Array, now: number, wallNow: number): void {
    this.#owed.delete(conn);
    // Members of one group that fell out of step together (their group's frame went out while
    // they were congested, or between two slices) are owed the same frame: the last one built
    // is reused while nothing has changed since. Without this, a group whose members got frames
    // of their own at different points of a tick keeps them apart for good under a busy feed
    // (in process, 5,000 connections on 50 shared lists with quotes landing between slices:
    // 283k frames built for 500k written in full mode, 406k with deltas).
    const o = this.#lastOwed;
    let frame: Buffer | null;
    if (o.group === conn.group && o.after === conn.sentMark && o.changeNo === this.#changeNo && o.head === head) frame = o.frame;
    else {
      frame = this.#buildFrame(conn.group, conn.sentMark, head, wallNow);
      o.group = conn.group;
      o.after = conn.sentMark;
      o.changeNo = this.#changeNo;
      o.head = head;
      o.frame = frame;
    }
    conn.sentMark = this.#changeNo;
    if (frame === null) return;
    this.#writeFrame(conn, frame, now);
    conn.lastEventAt = now;
  }

  /**
   * The `quotes` event of `group`'s symbols changed after change number `after`, or null when
   * there are none. Valid until the next frame is built.
   */
  #buildFrame(group: SubscriptionGroup, after: number, head: Uint8Array, wallNow: number): Buffer | null {
    const frames = this.#frames;
    const latency = this.counters.publishToWrite;
    const slots = group.slots;
    let minChange = Number.POSITIVE_INFINITY;
    const delta = group.delta;
    frames.begin(delta ? (this.#deltaHead ??= deltaHead(this.#sliceId)) : head);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      const changeNo = slot.changeNo;
      if (changeNo <= after) continue;
      const v = slot.value;
      if (v === undefined) continue;
      if (delta) {
        // Encoded once per symbol and base (SymbolHistory keeps it), whatever the connections.
        const history = slot.history!;
        history.sent(v.bytes, changeNo);
        frames.add(history.deltaAfter(after));
        // A member may share it if it holds the same base and not yet the latest (a
        // replacement object suits any base: its nextChange is +Infinity).
        const limit = history.nextChange < changeNo ? history.nextChange : changeNo;
        if (limit < minChange) minChange = limit;
      } else {
        frames.add(v.bytes);
        if (changeNo < minChange) minChange = changeNo;
      }
      latency.observe(Math.max(0, wallNow - v.ts) / 1000);
    }
    this.#frameMinChange = minChange;
    if (frames.count === 0) return null;
    this.counters.framesBuilt++;
    return frames.finish();
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
