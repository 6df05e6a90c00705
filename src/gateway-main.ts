/**
 * The gateway's process: config -> start the gateway -> on SIGTERM/SIGINT an ordered shutdown,
 * exit 0. Imported by main.ts once the Node version is known to be supported.
 */
import { ConfigError, loadConfig } from './config.js';
import { Switchyard } from './app.js';
import { exitAfterShutdown } from './process-exit.js';
import cluster from 'node:cluster';
import { createLogger } from './logger.js';
import { announceListening, followPrimary, loopGatewayOptions, loopIndex } from './loops/loop-child.js';
import { shareLoopMetrics } from './loops/loop-metrics.js';
import { runLoopPrimary } from './loops/loop-primary.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }

  // HTTP_LOOPS > 1: this process only runs the loops, each a gateway process (src/loops/).
  if (config.httpLoops > 1 && cluster.isPrimary) {
    runLoopPrimary({ loops: config.httpLoops, logger: createLogger(config.logLevel) });
    return;
  }
  const loop = loopIndex();
  const gateway = new Switchyard(config, loop === undefined ? {} : loopGatewayOptions(loop, config.logLevel));
  if (loop !== undefined && gateway.metrics) shareLoopMetrics(gateway.metrics);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      gateway.logger.warn({ signal }, 'second signal: exiting without waiting');
      void gateway.abort().finally(() => process.exit(1));
      return;
    }
    stopping = true;
    gateway.logger.info({ signal }, 'signal received');
    gateway.shutdown().then(
      () => exitAfterShutdown(gateway, 0),
      (error: unknown) => {
        gateway.logger.fatal({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // One of several loops: the primary's shutdown is a first signal (ignored when one came already), its abort a second.
  followPrimary({ shutdown: () => stopping || stop('SIGTERM'), abort: () => stop('SIGTERM') });

  // One of several loops takes connections only once its models are loaded: cluster hands a
  // listening loop its share at once, and a replacement loop must not answer them 404.
  if (loop !== undefined) await gateway.loadRepository();
  try {
    await gateway.listen();
  } catch (error) {
    // A taken port must stop the process with a message, not leave it half started.
    gateway.logger.fatal({ err: error }, (error as Error).message);
    console.error((error as Error).message);
    process.exit(1);
  }
  announceListening(gateway.port);
  gateway.logger.info({ port: gateway.port, host: config.host, mode: config.mode, modelRepo: config.modelRepo, routing: config.redisUrl ? 'redis' : config.routesFile }, 'listening');
  if (loop === undefined) await gateway.loadRepository();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
