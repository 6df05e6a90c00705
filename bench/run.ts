/**
 * `npm run bench`: every benchmark scenario against live servers in their own processes, with this
 * process as the load generator. Prints measured figures and the ratios each issue sets targets for.
 * Options: BENCH_SECONDS (per measurement, default 8), BENCH_ONLY (a scenario name; another name
 * is refused with the list).
 */
import { asyncJobsScenario } from './scenarios/async-jobs.js';
import { clusterScenario } from './scenarios/cluster.js';
import { coreGatewayScenario, type ScenarioReport } from './scenarios/core-gateway.js';
import { openInferenceProtocolScenario } from './scenarios/open-inference-protocol.js';
import { operationsScenario } from './scenarios/operations.js';
import { peersScenario } from './scenarios/peers.js';
import { scalingScenario } from './scenarios/scaling.js';
import { statusPageScenario } from './scenarios/status-page.js';
import { shadowScenario } from './scenarios/shadow.js';
import { throughputScenario } from './scenarios/throughput.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const only = process.env.BENCH_ONLY;

const scenarios: Array<[string, (seconds: number) => Promise<ScenarioReport>]> = [
  ['core', coreGatewayScenario],
  ['throughput', throughputScenario],
  ['oip', openInferenceProtocolScenario],
  ['operations', operationsScenario],
  ['async', asyncJobsScenario],
  ['peers', peersScenario],
  ['scaling', scalingScenario],
  ['status-page', statusPageScenario],
  ['cluster', clusterScenario],
  ['shadow', shadowScenario],
];

if (only && !scenarios.some(([name]) => name === only)) {
  console.error(`BENCH_ONLY=${only} is not a scenario; one of: ${scenarios.map(([name]) => name).join(', ')}`);
  process.exit(2);
}

let failed = false;
for (const [name, run] of scenarios) {
  if (only && only !== name) continue;
  const report = await run(seconds);
  console.log(`\n== ${report.name} ==`);
  for (const line of report.lines) console.log(line);
  for (const ratio of report.ratios) {
    console.log(`${ratio.ok ? 'PASS' : 'MISS'}  ${ratio.metric}: ${ratio.value.toFixed(3)} (target ${ratio.target})`);
    if (!ratio.ok) failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
