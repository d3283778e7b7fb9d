// Big transient buffers (4 MB zstd frames, compressed or decoded) become
// garbage as soon as the next stage has them, but JavaScriptCore collects
// them lazily: left alone, a 200 MB save or restore peaks above 200 MB RSS,
// most of it dead frames. Both pipelines call this once per frame; it reads
// the RSS (~0.4 ms, so only every fourth call) and forces a collection when
// it has grown past a threshold that rises with what survives a collection.
const START = 112 << 20;
const HEADROOM = 48 << 20;

export class FrameGarbage {
  private calls = 0;
  private above = START;

  afterFrame(): void {
    if (++this.calls % 4 !== 0 || process.memoryUsage.rss() <= this.above) return;
    Bun.gc(true);
    this.above = Math.max(START, process.memoryUsage.rss() + HEADROOM);
  }
}
