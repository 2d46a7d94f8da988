#!/usr/bin/env node
// Hugging Face tokenizers (Rust core, Node binding) on a text file, one thread, for
// bench/tokenize.sh: encodes every line with truncation to MAX_LEN as sb-tokenize does
// and prints "WALL_SECONDS CPU_SECONDS LINES TOKENS" for the encoding loop alone (file
// reading and tokenizer loading excluded, which favours it), then LOAD_SECONDS: the
// wall time of Tokenizer.fromFile() and RSS_MB, the process's resident memory after it.
// usage: tokenize-hf.js MODEL_DIR INPUT.txt MAX_LEN
// Run with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false (bench/tokenize.sh does).
const fs = require('fs');
const path = require('path');
const home = process.env.SB_REF_HOME || '/tmp/sb-reference';
let tk;
try { tk = require('@anush008/tokenizers'); } catch (e) { tk = require(path.join(home, 'node_modules', '@anush008/tokenizers')); }

async function main() {
  const [dir, input, maxLen] = process.argv.slice(2);
  const l0 = process.hrtime.bigint();
  const tok = tk.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const load = Number(process.hrtime.bigint() - l0) / 1e9;
  const rss = process.memoryUsage().rss / 1048576;
  tok.setTruncation(parseInt(maxLen || '128', 10));
  const lines = fs.readFileSync(input, 'utf8').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const B = 256;
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let s = 0; s < lines.length; s += B) {
    const encs = await tok.encodeBatch(lines.slice(s, s + B), {addSpecialTokens: true});
    for (const e of encs) tokens += e.getIds().length;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  console.log(secs.toFixed(4), ((c.user + c.system) / 1e6).toFixed(4), lines.length, tokens,
              load.toFixed(4), rss.toFixed(1));
}
main().catch(e => { console.error(e); process.exit(1); });
