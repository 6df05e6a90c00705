/**
 * The front gateway of the cluster benchmark while the gateway's own entry point does not yet hand
 * the static backends of BACKENDS_FILE, outlier ejection and the retry budget to its request path
 * (issue #14: on main, src/app.ts builds StaticBackends for probes and metrics but forwards only to
 * SwitchyardOptions.backends). This is src/main.js with those three parts passed as options, from
 * the same settings (BACKENDS_FILE, BACKEND_PROBE_*, OUTLIER_*, BREAKER_*, RETRY_BUDGET_*); once
 * main.js forwards by itself the scenario runs it instead (BENCH_CLUSTER_FRONT=gateway) and this
 * file goes. Usage: node cluster-front.js (PORT, HOST and every setting from the environment).
 */
import { Switchyard } from '../../src/app.js';
import { SlidingRetryBudget, type RetryBudgetObserver } from '../../src/cluster/retry-budget.js';
import { StaticBackends } from '../../src/cluster/static-backends.js';
import { UpstreamHealthTracker, type UpstreamHealthObserver } from '../../src/cluster/upstream-health-tracker.js';
import { loadConfig } from '../../src/config.js';
import { exitAfterShutdown } from '../../src/process-exit.js';

const config = loadConfig();
const backends = new StaticBackends({
  file: config.backends.file,
  probeIntervalMs: config.backends.probeIntervalMs,
  probeTimeoutMs: config.backends.probeTimeoutMs,
  healthyAfterPasses: config.backends.healthyAfterPasses,
});
// The gateway's metrics exist only once it is built: ejections, breaker changes and retry
// decisions reach them through this late binding.
let gateway: Switchyard | undefined;
const observer: UpstreamHealthObserver & RetryBudgetObserver = {
  upstreamEjected: (event) => gateway?.metrics?.upstreamEjected(event),
  upstreamBreakerChanged: (event) => gateway?.metrics?.upstreamBreakerChanged(event),
  upstreamForgotten: (event) => gateway?.metrics?.upstreamForgotten(event),
  retryBudgetDecision: (allowed) => gateway?.metrics?.retryBudgetDecision(allowed),
};
// The gateway's own StaticBackends (probes for metrics only) would probe the same file a second time.
gateway = new Switchyard(
  { ...config, backends: { ...config.backends, file: `${config.backends.file}.not-read-by-the-front` } },
  {
    backends,
    upstreamHealth: new UpstreamHealthTracker({ ...config.upstreamHealth, observer }),
    retryBudget: new SlidingRetryBudget({ ...config.retryBudget, observer }),
  },
);
const front = gateway;
process.once('SIGTERM', () => {
  void front.shutdown().then(async () => {
    await backends.close();
    exitAfterShutdown(front, 0);
  });
});
await backends.start();
await front.listen();
await front.loadRepository();
