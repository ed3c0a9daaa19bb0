// The set of cleaned file names a replay has seen, to refuse a second file entry with the same
// cleaned name as tar-split does (ErrDuplicatePath).
//
// A Set of JS strings did this at a cost of 2-4 µs per name on a layer of 50,000 small files:
// a string per name, its hash, and 50,000 strings kept alive through every young-generation
// collection. Here the names are bytes appended to one growing buffer, and a Map from a 30-bit
// hash (a small integer, stored unboxed) to the newest record with that hash chains the records
// that share it; a hit is confirmed byte for byte, so a hash collision never reads as a duplicate.
import { cleanLength, cleanNameKey } from './confined-file.js';

/** Record layout in the arena: previous record with the same hash (int32, -1 = none), length (uint32), bytes. */
const RECORD_HEADER = 8;
const INITIAL_ARENA = 64 * 1024;

export class CleanNameSet {
  private arena = Buffer.allocUnsafe(INITIAL_ARENA);
  private used = 0;
  /** hash → offset of the newest record with that hash */
  private readonly heads = new Map<number, number>();

  /** Add the cleaned form of `name`; false when an equal cleaned name was added before. */
  add(name: Buffer): boolean {
    const clean = cleanLength(name);
    // a name that needs real cleaning ('./a', 'a//b', 'a/../b') is rare: its key is built as text
    const key = clean >= 0 ? name : Buffer.from(cleanNameKey(name), 'latin1');
    const len = clean >= 0 ? clean : key.length;

    // FNV-1a, folded to 30 bits so the Map keeps it as a small integer
    let h = 0x811c9dc5;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ key[i], 0x01000193);
    h &= 0x3fffffff;

    const head = this.heads.get(h);
    for (let at = head ?? -1; at >= 0; at = this.arena.readInt32LE(at)) {
      if (this.arena.readUInt32LE(at + 4) === len && this.arena.compare(key, 0, len, at + RECORD_HEADER, at + RECORD_HEADER + len) === 0) return false;
    }

    const need = this.used + RECORD_HEADER + len;
    if (need > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.arena.length * 2));
      this.arena.copy(bigger, 0, 0, this.used);
      this.arena = bigger;
    }
    const at = this.used;
    this.arena.writeInt32LE(head ?? -1, at);
    this.arena.writeUInt32LE(len, at + 4);
    key.copy(this.arena, at + RECORD_HEADER, 0, len);
    this.used = need;
    this.heads.set(h, at);
    return true;
  }
}
