// Big transient buffers (4 MB zstd frames, compressed or decoded) become
// garbage as soon as the next stage has them, but JavaScriptCore collects
// them lazily: left alone, a 200 MB save or restore peaks above 200 MB RSS,
// most of it dead frames. (A restore now decodes into reused buffers and reads
// into reused pieces, zstd-frames.ts; what it leaves to collect is the
// extractor's per-member garbage.) Both pipelines call this once per frame; it
// reads the RSS (0.1–0.2 ms in a monorepo restore, so only every other call) and
// forces a collection when it has grown past a threshold that rises with what
// survives a collection.
// (~50 MB of a compiled binary's RSS is its own code, read from the file.)
// Restoring a node_modules (27,000 files): peak 190 MB with 112 + 48 MB,
// ~150 MB with these, for a few per cent more time.
const START = 80 << 20;
const HEADROOM = 24 << 20;

export class FrameGarbage {
  private calls = 0;
  private above = START;

  afterFrame(): void {
    if (++this.calls % 2 !== 0 || process.memoryUsage.rss() <= this.above) return;
    Bun.gc(true);
    this.above = Math.max(START, process.memoryUsage.rss() + HEADROOM);
  }
}
