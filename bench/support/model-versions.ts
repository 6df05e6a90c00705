/**
 * A model's versions as the gateway under test lists them (`GET /models/:name`): their states and
 * the scheduler's counters, which with HTTP_LOOPS > 1 cover every loop (up to ~0.5 s behind).
 */
export interface ListedVersion {
  readonly version: number;
  readonly state: string;
  readonly stats: { readonly requests: number; readonly executions: number };
}

export async function listModelVersions(url: string, model: string): Promise<ListedVersion[]> {
  const response = await fetch(`${url}/models/${model}`);
  if (!response.ok) throw new Error(`GET /models/${model}: HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return ((await response.json()) as { versions: ListedVersion[] }).versions;
}
