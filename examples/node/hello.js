// SPDX-License-Identifier: MIT
// The README's Node.js example as a whole program: a child through the addon, its output
// read through a pipe, its status from the `exited` promise.
'use strict';

const { once } = require('node:events');
const { Reaper } = require('uvreap');

async function main() {
  const reaper = new Reaper({ policy: 'pidfd' });  // or 'own' (SIGCHLD)
  const child = reaper.spawn('/bin/sh', ['-c', 'echo hello from the child; exit 3'],
                             { stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 });
  child.stdout.on('data', (d) => process.stdout.write(d));
  // 'close': the exit and the end of its output; `await child.exited` is the exit alone.
  const [code, signal, { deadlineFired, rusage }] = await once(child, 'close');
  console.log(`pid ${child.pid}: code ${code}, signal ${signal}, deadline ${deadlineFired}, ` +
              `${rusage.userCPU + rusage.systemCPU} us of CPU`);
}

main();
