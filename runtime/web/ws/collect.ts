// Bytes gathered piece by piece and joined once complete: a frame's payload as
// it arrives, a fragmented message, an inflated message. Memory follows what
// was received, never what a header declared (a 14-byte header may announce
// 16 MiB that never come). Small pieces are copied into a shared block, so a
// peer dribbling one byte per TCP segment, or sending one-byte fragments,
// costs about a byte per byte and not a Buffer object (~100 bytes) per piece.

/** Pieces below this are copied into the block; bigger ones are kept as they are. */
const SMALL = 1024;
const BLOCK = 16 * 1024;

export class Collector {
  /** Bytes pushed so far. */
  length = 0;
  private readonly parts: Buffer[] = [];
  private block: Buffer | null = null;
  private used = 0;

  /** Appends `b` (kept by reference when big: the caller must not reuse it). */
  push(b: Buffer): void {
    const n = b.length;
    if (n === 0) return;
    this.length += n;
    if (n >= SMALL) {
      this.seal();
      this.parts.push(b);
      return;
    }
    if (this.block === null) this.block = Buffer.allocUnsafe(BLOCK);
    else if (this.used + n > BLOCK) {
      this.parts.push(this.block.subarray(0, this.used));
      this.block = Buffer.allocUnsafe(BLOCK);
      this.used = 0;
    }
    b.copy(this.block, this.used);
    this.used += n;
  }

  /** Everything pushed, as one Buffer (the only piece itself when there is one). */
  concat(): Buffer {
    this.seal();
    const parts = this.parts;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, this.length);
  }

  /** Moves the block's bytes into the parts: an exact copy, so the block is reused and no mostly-empty block is kept. */
  private seal(): void {
    if (this.used === 0) return;
    this.parts.push(Buffer.from(this.block!.subarray(0, this.used)));
    this.used = 0;
  }
}
