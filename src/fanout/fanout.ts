import type { LastValue, LastValues } from "../ingest/last-values.js";
import { BlockDeflater, keepBlock, type DeflatedBlock } from "./block-deflater.js";
import { ByteBudget, CHUNK_FRAMING_BYTES } from "./byte-budget.js";
import { Connection, type Sink } from "./connection.js";
import { formatEventId, resumeAfter } from "./event-id.js";
import { deltaHead, FRAME_TAIL_BYTES, FrameBuilder, quotesHead } from "./frame-builder.js";
import { GzipSink } from "./gzip-sink.js";
import { HEARTBEAT, quotesEvent } from "./sse-frames.js";
import { FanoutCounters } from "./fanout-counters.js";
import { FrameGroup } from "./frame-group.js";
import { SymbolHistory } from "./symbol-history.js";
import { SymbolSlot } from "./symbol-slot.js";

/** What a connection asks of its stream beyond its symbols and interval. */
export interface StreamOptions {
  /** Updates as `event: delta` field deltas (GET /quotes?delta=1). Default false. */
  readonly delta?: boolean;
  /** Bandwidth budget in kbit/s (`maxKbps=`); 0 or absent: unlimited. */
  readonly maxKbps?: number;
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
  readonly counters = new FanoutCounters();
  readonly #values: LastValues;
  readonly #opts: FanoutOptions;
  readonly #groups = new Map<string, FrameGroup>();
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
  readonly #order: (FrameGroup | null)[] = [];
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
  /** Members of the group being flushed that are ahead of its frame (see `#catchUp`): the first `#aheadCount`. */
  readonly #ahead: (Connection | null)[] = [];
  #aheadCount = 0;
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
  readonly #lastOwed: { group: FrameGroup | null; after: number; changeNo: number; head: Uint8Array | null; frame: Buffer | null } = { group: null, after: -1, changeNo: -1, head: null, frame: null };
  /** This slice's event id, and its `delta` event head, made on first need. */
  #sliceId = "";
  #deltaHead: Buffer | null = null;
  #epoch: string | null = null;
  #deflater: BlockDeflater | null = null;
  /** Frames built so far: tells whether the deflater's last block is the current frame's. */
  #frameSerial = 0;
  /** The last frame built, and the frame serial and deflater call of its compressed block (see `#blockOf`). */
  #builtFrame: Buffer | null = null;
  #blockSerial = -1;
  #blockAt = -1;
  #heartbeatBlock: DeflatedBlock | null = null;
  /** Group indices of the quotes in the budgeted frame being built. */
  #picked = new Int32Array(64);
  #pickedCount = 0;
  /** The frame `#buildBudgetedFrame` built last left owed symbols out, the first at `#rotorAfterCut`. */
  #cut = false;
  #rotorAfterCut = 0;

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

  /**
   * The worker's compressor of independent blocks, made on first use (only gzip streams use it):
   * a frame shared by many compressed connections is compressed once.
   */
  get deflater(): BlockDeflater {
    return (this.#deflater ??= new BlockDeflater());
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

  /**
   * A new connection. Its snapshot goes out at once, or as soon as the last values are loaded.
   * A GzipSink (over `deflater`) gets shared frames compressed once for all; `opts.maxKbps` above 0
   * puts the connection on that bandwidth budget.
   */
  open(symbols: readonly string[], intervalMs: number, resumeId: string | undefined, sink: Sink, now: number, opts: StreamOptions = {}): Connection {
    const group = this.#groupFor(symbols, intervalMs, opts.delta === true);
    const gzip = sink instanceof GzipSink ? sink : null;
    const maxKbps = opts.maxKbps ?? 0;
    const conn = new Connection(group, sink, resumeId, now, gzip, maxKbps > 0 ? new ByteBudget(maxKbps, now) : null);
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
        slot.removeGroup(group);
        if (slot.groups.length === 0) this.#slots.delete(slot.sym);
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
   * (quotes, connections coming and going, drains, heartbeats): the frames built later carry the
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

  #groupFor(symbols: readonly string[], intervalMs: number, delta: boolean): FrameGroup {
    const key = FrameGroup.keyOf(symbols, intervalMs, delta);
    let group = this.#groups.get(key);
    if (group !== undefined) return group;
    const slots = symbols.map((sym) => {
      let slot = this.#slots.get(sym);
      if (slot === undefined) this.#slots.set(sym, (slot = new SymbolSlot(sym, this.#values.get(sym))));
      return slot;
    });
    // Its first members' snapshots hold every change so far.
    group = new FrameGroup(key, intervalMs, slots, this.#changeNo, delta);
    if (delta) {
      for (const slot of slots) slot.history ??= new SymbolHistory();
    }
    group.orderIndex = this.#order.push(group) - 1;
    this.#groups.set(key, group);
    for (const slot of slots) slot.addGroup(group);
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

  #flushGroup(group: FrameGroup, head: Uint8Array, now: number, wallNow: number): void {
    const members = group.members;
    // When every live member is ahead of the group (each got frames of its own since the group's
    // last: a lone member that was congested, or a cohort owed together), the frame starts where
    // they all are, and they share it again. Otherwise they stayed out of step for good under a
    // busy feed, each costing a frame of its own per window after the group's built for nothing.
    // (Change numbers are small integers: -1, not Infinity, for "none", so that no double is boxed.)
    let least = -1;
    for (let i = 0; i < members.length; i++) {
      const conn = members[i]!;
      if (conn.state === "live" && (least < 0 || conn.sentMark < least)) least = conn.sentMark;
    }
    const from = Math.max(least, group.sentMark);
    const mark = this.#changeNo;
    group.sentMark = mark;
    group.lastFlushAt = now;
    let frame: Buffer | null | undefined;
    // Backwards: a member that leaves during its write (swapped with the last) skips no one.
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
        // frame without them, right after the group's (see #catchUp), or later if it is budgeted.
        if (conn.budget === null) this.#ahead[this.#aheadCount++] = conn;
        else this.#owed.add(conn);
        continue;
      }
      if (frame !== null && conn.budget !== null && !this.#affords(conn, frame, now)) {
        // Held back like a congested connection: owed, and later sent its symbols' latest values.
        this.counters.framesHeldBack++;
        this.#owed.add(conn);
        continue;
      }
      conn.sentMark = mark;
      if (frame === null) continue;
      this.#writeFrame(conn, frame, now);
      conn.lastEventAt = now;
    }
    if (this.#aheadCount > 0) this.#catchUp(group, mark, head, now, wallNow);
  }

  /**
   * The members `#flushGroup` found ahead of its frame each get a frame from their own mark, now,
   * before any quote can land: so they end at the group's mark and share its next frames. (Served
   * at the end of the tick instead, as owed members are, they ended past it whenever a quote
   * landed in between, and under a busy feed stayed out of step for good: a frame of their own
   * per window, and with deltas an encoding per base.) Members at the same mark share one frame.
   */
  #catchUp(group: FrameGroup, mark: number, head: Uint8Array, now: number, wallNow: number): void {
    const ahead = this.#ahead;
    const count = this.#aheadCount;
    this.#aheadCount = 0;
    let after = -1;
    let frame: Buffer | null = null;
    for (let k = 0; k < count; k++) {
      const conn = ahead[k]!;
      ahead[k] = null;
      // It may have left during an earlier write.
      if (conn.state !== "live") continue;
      if (conn.sentMark !== after) {
        after = conn.sentMark;
        frame = this.#buildFrame(group, after, head, wallNow);
        this.#lastOwed.group = null;
      }
      conn.sentMark = mark;
      if (frame === null) continue;
      this.#writeFrame(conn, frame, now);
      conn.lastEventAt = now;
    }
  }

  #flushOwed(conn: Connection, head: Uint8Array, now: number, wallNow: number): void {
    if (conn.budget !== null) {
      this.#flushBudgeted(conn, conn.budget, head, now, wallNow);
      return;
    }
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
  #buildFrame(group: FrameGroup, after: number, head: Uint8Array, wallNow: number): Buffer | null {
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
        const limit = Math.min(history.nextChange, changeNo);
        if (limit < minChange) minChange = limit;
      } else {
        frames.add(v.bytes);
        if (changeNo < minChange) minChange = changeNo;
      }
      latency.observeMs(wallNow - v.ts);
    }
    this.#frameMinChange = minChange;
    if (frames.count === 0) return null;
    return this.#finishFrame();
  }

  #finishFrame(): Buffer {
    this.counters.framesBuilt++;
    this.#frameSerial++;
    return (this.#builtFrame = this.#frames.finish());
  }

  /**
   * A budgeted connection's own frame: its owed symbols, as many as its budget affords now,
   * starting where its last cut frame stopped, so that every symbol gets its turn however few
   * fit in one frame. It stays owed until a frame carries all it is owed.
   */
  #flushBudgeted(conn: Connection, budget: ByteBudget, head: Uint8Array, now: number, wallNow: number): void {
    budget.refill(now);
    const allowance = budget.tokens - CHUNK_FRAMING_BYTES;
    // Uncompressed, the frame must fit the allowance. Compressed, first try as many quotes as the
    // stream's ratio so far suggests, then fewer, and last the uncompressed bound (deflate never
    // grows a chunk by more than GZIP_SLACK_BYTES).
    let limit = conn.gzip === null ? allowance : allowance / Math.max(0.2, conn.gzip.ratio);
    for (let attempt = 0; ; attempt++) {
      const last = conn.gzip === null || attempt === 2;
      if (last && conn.gzip !== null) limit = allowance - GZIP_SLACK_BYTES;
      const frame = this.#buildBudgetedFrame(conn, head, limit, budget.full, attempt === 0 ? wallNow : 0);
      if (frame === null) {
        if (this.#cut) {
          this.counters.framesHeldBack++;
          return;
        }
        // Nothing owed any more.
        this.#owed.delete(conn);
        conn.sentMark = this.#changeNo;
        return;
      }
      const wire = conn.gzip === null ? frame.length : this.#blockOf(frame).bytes.length;
      if (!last && wire > allowance) {
        limit = (limit * allowance) / wire;
        continue;
      }
      const marks = conn.slotMarks!;
      if (this.#cut) {
        for (let k = 0; k < this.#pickedCount; k++) marks[this.#picked[k]!] = this.#changeNo;
        conn.rotor = this.#rotorAfterCut;
      } else {
        this.#owed.delete(conn);
        conn.sentMark = this.#changeNo;
      }
      this.#writeFrame(conn, frame, now);
      conn.lastEventAt = now;
      return;
    }
  }

  /**
   * Builds `conn`'s owed symbols from its rotor on, while the frame stays within `limit` bytes
   * (the first one whatever its size when `forceOne`: a full bucket pays for it). Null when none
   * was added. `#picked` lists the group indices added; `#cut` says whether any owed one was left out.
   */
  #buildBudgetedFrame(conn: Connection, head: Uint8Array, limit: number, forceOne: boolean, wallNow: number): Buffer | null {
    const frames = this.#frames;
    const slots = conn.group.slots;
    const marks = conn.slotMarks!;
    const n = slots.length;
    if (this.#picked.length < n) this.#picked = new Int32Array(Math.max(n, this.#picked.length * 2));
    const picked = this.#picked;
    let count = 0;
    let firstLeftOut = -1;
    const delta = conn.group.delta;
    frames.begin(delta ? (this.#deltaHead ??= deltaHead(this.#sliceId)) : head);
    // The builder's buffer now holds this frame: the owed one it held is gone, and must not be
    // reused for the next owed member of this group.
    this.#lastOwed.group = null;
    for (let k = 0; k < n; k++) {
      const i = (conn.rotor + k) % n;
      const slot = slots[i]!;
      const v = slot.value;
      if (v === undefined || slot.changeNo <= conn.sentMark || slot.changeNo <= marks[i]!) continue;
      let bytes: Uint8Array = v.bytes;
      if (delta) {
        // What this connection holds of the symbol is the version current when it last got it:
        // at its sentMark, or later when a cut frame of its own carried it (its mark).
        const history = slot.history!;
        history.sent(v.bytes, slot.changeNo);
        bytes = history.deltaAfter(Math.max(conn.sentMark, marks[i]!));
      }
      const grown = frames.length + (count > 0 ? 1 : 0) + bytes.length + FRAME_TAIL_BYTES;
      if (grown > limit && !(forceOne && count === 0 && firstLeftOut < 0)) {
        if (firstLeftOut < 0) firstLeftOut = i;
        continue;
      }
      frames.add(bytes);
      picked[count++] = i;
      if (wallNow > 0) this.counters.publishToWrite.observeMs(Math.max(0, wallNow - v.ts));
    }
    this.#pickedCount = count;
    this.#cut = firstLeftOut >= 0;
    this.#rotorAfterCut = firstLeftOut;
    if (count === 0) return null;
    return this.#finishFrame();
  }

  /** A budgeted connection can take `frame` now (refilling its bucket first). */
  #affords(conn: Connection, frame: Buffer, now: number): boolean {
    const budget = conn.budget!;
    budget.refill(now);
    const wire = conn.gzip === null ? frame.length : this.#blockOf(frame).bytes.length;
    return wire + CHUNK_FRAMING_BYTES <= budget.tokens;
  }

  /**
   * `chunk` compressed. The frame built last is compressed once, however many connections get
   * it (until the deflater is used for anything else); other chunks each time.
   */
  #blockOf(chunk: Buffer | string): DeflatedBlock {
    const deflater = this.deflater;
    if (chunk === HEARTBEAT) return (this.#heartbeatBlock ??= keepBlock(deflater.deflate(HEARTBEAT)));
    if (chunk !== this.#builtFrame) return deflater.deflate(chunk);
    if (this.#blockSerial !== this.#frameSerial || this.#blockAt !== deflater.blocks) {
      deflater.deflate(chunk);
      this.#blockSerial = this.#frameSerial;
      this.#blockAt = deflater.blocks;
    }
    return deflater.last;
  }

  #writeFrame(conn: Connection, chunk: Buffer | string, now: number): void {
    this.counters.framesSent++;
    this.#write(conn, chunk, now);
  }

  #write(conn: Connection, chunk: Buffer | string, now: number): void {
    let ok: boolean;
    let bytes: number;
    if (conn.gzip === null) {
      ok = conn.sink.write(chunk);
      bytes = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    } else {
      const block = this.#blockOf(chunk);
      ok = conn.gzip.writeBlock(block);
      bytes = block.bytes.length;
    }
    conn.lastWriteAt = now;
    this.counters.bytesSent += bytes;
    if (conn.budget !== null) conn.budget.spend(bytes + CHUNK_FRAMING_BYTES);
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

/** Most that deflate adds to a chunk it cannot compress (stored blocks' headers and the sync flush), for chunks under 16 KB. */
const GZIP_SLACK_BYTES = 16;
