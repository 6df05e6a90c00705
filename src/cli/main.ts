#!/usr/bin/env node
/**
 * The operator CLI's entry (`switchyard`, built to dist/src/cli/main.js). `switchyard worker`
 * starts a worker-only replica (the gateway's own entry point, in SWITCHYARD_MODE=worker); the
 * other commands live in run-cli.ts, and this only binds them to the process.
 */
import { exitUnlessSupportedNode } from '../node-version.js';

// Before anything else is imported: a dependency may not load on an older Node (see src/main.ts).
exitUnlessSupportedNode();
const { runCli } = await import('./run-cli.js');

const args = process.argv.slice(2);
if (args[0] === 'worker' && args.length === 1) {
  process.env['SWITCHYARD_MODE'] = 'worker';
  await import('../main.js');
} else {
  const code = await runCli(args, {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    env: process.env,
  });
  process.exitCode = code;
}
