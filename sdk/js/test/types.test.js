// index.d.ts, compiled with the committed TypeScript devDependency (`npm ci`): see types/usage.ts
// (tim-js-sdk's names) and types/tencentcloudchat.ts (@tencentcloud/chat's).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const here = fileURLToPath(new URL('.', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

it('index.d.ts type-checks the documented usage (tsc --noEmit, strict)', (t) => {
  if (!existsSync(tsc)) {
    t.skip('typescript is not installed: run `npm ci` in sdk/js');
    return;
  }
  const run = spawnSync(process.execPath, [tsc, '-p', `${here}types/tsconfig.json`], { encoding: 'utf8' });
  assert.equal(run.status, 0, `tsc failed:\n${run.stdout}${run.stderr}`);
});
