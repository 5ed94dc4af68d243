// Writes the app icons (public/icon-192.png, icon-512.png, icon-maskable-512.png): a white gate on
// navy, drawn pixel by pixel and encoded as PNG with node:zlib. Run once; the PNGs are committed.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const NAVY = [0x1d, 0x35, 0x57];
const WHITE = [0xff, 0xff, 0xff];

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Gate: a wall with an arched opening, scaled to `inner` (fraction of the size) and centred. */
function isGate(x, y, size, inner) {
  const s = size * inner, o = (size - s) / 2;
  const u = (x - o) / s, v = (y - o) / s;
  if (u < 0.1 || u > 0.9 || v < 0.15 || v > 0.9) return false;
  // crenellations on top
  if (v < 0.25 && Math.floor((u - 0.1) / 0.1) % 2 === 1) return false;
  // arched opening
  const cx = 0.5, r = 0.2;
  if (u > cx - r && u < cx + r && v > 0.5) return false;
  if (v <= 0.5 && v > 0.5 - r && (u - cx) ** 2 + (v - 0.5) ** 2 < r * r) return false;
  return true;
}

function png(size, inner) {
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const c = isGate(x + 0.5, y + 0.5, size, inner) ? WHITE : NAVY;
      raw.set(c, y * (size * 3 + 1) + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const out = new URL('../public/', import.meta.url);
writeFileSync(new URL('icon-192.png', out), png(192, 0.8));
writeFileSync(new URL('icon-512.png', out), png(512, 0.8));
writeFileSync(new URL('icon-maskable-512.png', out), png(512, 0.6));
