// Reads the metadata of a GGUF file (the key/value section of the header),
// so that the suites take the model's facts (hidden size, context length,
// vocabulary and the ids of its end tokens) from the file itself rather than
// from the server under test. Format: GGUF v2/v3, little-endian, as the GGUF
// specification describes it (magic, version, tensor count, key/value count,
// then typed key/value pairs).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const kTypes = {
  0: 'u8', 1: 'i8', 2: 'u16', 3: 'i16', 4: 'u32', 5: 'i32', 6: 'f32', 7: 'bool', 8: 'string',
  9: 'array', 10: 'u64', 11: 'i64', 12: 'f64',
};

// Returns the key/value pairs; `offsets` (if given) receives, for each key,
// the byte offset of its value in the file.
export function readGgufMetadata(file, offsets = {}) {
  const buf = readFileSync(file);
  let at = 0;
  const u32 = () => { const v = buf.readUInt32LE(at); at += 4; return v; };
  const u64 = () => { const v = buf.readBigUInt64LE(at); at += 8; return Number(v); };
  const str = () => { const n = u64(); const s = buf.toString('utf8', at, at + n); at += n; return s; };
  const value = (type) => {
    switch (kTypes[type]) {
      case 'u8': return buf.readUInt8(at++);
      case 'i8': return buf.readInt8(at++);
      case 'u16': { const v = buf.readUInt16LE(at); at += 2; return v; }
      case 'i16': { const v = buf.readInt16LE(at); at += 2; return v; }
      case 'u32': return u32();
      case 'i32': { const v = buf.readInt32LE(at); at += 4; return v; }
      case 'f32': { const v = buf.readFloatLE(at); at += 4; return v; }
      case 'bool': return buf.readUInt8(at++) !== 0;
      case 'string': return str();
      case 'u64': return u64();
      case 'i64': { const v = Number(buf.readBigInt64LE(at)); at += 8; return v; }
      case 'f64': { const v = buf.readDoubleLE(at); at += 8; return v; }
      case 'array': {
        const itemType = u32();
        const n = u64();
        const items = new Array(n);
        for (let i = 0; i < n; ++i) items[i] = value(itemType);
        return items;
      }
      default: throw new Error(`${file}: unknown GGUF value type ${type} at byte ${at}`);
    }
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${file} is not a GGUF file`);
  at = 4;
  const version = u32();
  u64();  // tensor count
  const count = u64();
  const kv = { 'gguf.version': version };
  for (let i = 0; i < count; ++i) {
    const key = str();
    const type = u32();
    offsets[key] = at;
    kv[key] = value(type);
  }
  return kv;
}

// The facts the suites check the server against.
export function modelFacts(file) {
  const kv = readGgufMetadata(file);
  const arch = kv['general.architecture'];
  const tokens = kv['tokenizer.ggml.tokens'];
  const idOf = (piece) => {
    const id = tokens.indexOf(piece);
    if (id < 0) throw new Error(`${file} has no token ${piece}`);
    return id;
  };
  return {
    architecture: arch,
    hiddenSize: kv[`${arch}.embedding_length`],
    contextLength: kv[`${arch}.context_length`],
    vocabSize: tokens.length,
    tokens,
    eosId: kv['tokenizer.ggml.eos_token_id'],
    endOfTurnId: idOf('<end_of_turn>'),
    idOf,
  };
}

// A copy of the model (in a fresh temporary folder) whose context_length says
// `length`: the same weights, so the same answers, but requests that may run
// for many thousand tokens (the bundled models stop at 1,024, which a small
// model generates in a fraction of a second; cancellation and queue tests
// need requests that are still running when the test acts). Only the u32
// value is overwritten, so the file's layout does not change. The caller
// removes the folder.
export function copyWithContextLength(file, length) {
  const offsets = {};
  const kv = readGgufMetadata(file, offsets);
  const key = `${kv['general.architecture']}.context_length`;
  if (!(key in offsets)) throw new Error(`${file} has no ${key}`);
  const buf = readFileSync(file);
  buf.writeUInt32LE(length, offsets[key]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gemma-e2e-model-'));
  const copy = path.join(dir, path.basename(file));
  writeFileSync(copy, buf);
  return { dir, file: copy };
}
