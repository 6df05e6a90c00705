#!/usr/bin/env node
/**
 * The operator CLI's entry (`switchyard`, built to dist/src/cli/main.js). Commands live in
 * run-cli.ts; this only binds them to the process.
 */
import { runCli } from './run-cli.js';

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
});
process.exitCode = code;
