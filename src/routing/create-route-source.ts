/**
 * Picks the routing table's source the way the contract says: Redis when a Redis URL is set,
 * otherwise config/routes.json, so a single machine needs nothing.
 */
import { FileRouteSource } from './file-route-source.js';
import { RedisRouteSource } from './redis-route-source.js';

export interface RouteSourceConfig {
  /** REDIS_URL; when set, Redis is the source. Default unset (the file is). */
  redisUrl?: string;
  /** Redis key prefix. Default `switchyard:`. */
  redisPrefix?: string;
  /** The routes file used without Redis. Default `config/routes.json`. */
  routesFile?: string;
}

export function createRouteSource(config: RouteSourceConfig = {}): RedisRouteSource | FileRouteSource {
  if (config.redisUrl) {
    return new RedisRouteSource(
      config.redisPrefix === undefined ? { url: config.redisUrl } : { url: config.redisUrl, prefix: config.redisPrefix },
    );
  }
  return new FileRouteSource(config.routesFile === undefined ? {} : { path: config.routesFile });
}
