/**
 * Async jobs over real HTTP for tests: submitting (POST /jobs), reading a job, long-polling it to
 * the end, the queue's counts, and how many requests a version has run (to count executions).
 * Works against any gateway URL: in-process (gateway.ts) or a process (gateway-process.ts).
 */
import { expect } from 'vitest';

export interface JobBody {
  job_id: string;
  status: 'PENDING' | 'PROCESSING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';
  model_name: string;
  model_version: string;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  outputs?: Record<string, number[][]>;
  error?: string;
}

/** `POST /jobs` with `{model, ...request}` (version optional) and any extra headers. */
export function submitJob(url: string, model: string, request: object, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, ...request }),
  });
}

/** `GET /jobs/:id`: the status and the parsed body (a job, or an error body). */
export async function readJob(url: string, id: string, headers: Record<string, string> = {}): Promise<{ status: number; body: JobBody }> {
  const response = await fetch(`${url}/jobs/${id}`, { headers });
  return { status: response.status, body: (await response.json()) as JobBody };
}

/** Long-polls until the job has finished (SUCCESS, FAILED or CANCELLED); bounded by the test's timeout. */
export async function finishedJob(url: string, id: string, headers: Record<string, string> = {}): Promise<JobBody> {
  for (;;) {
    const { status, body } = await readJob(url, id, { prefer: 'wait=10', ...headers });
    expect(status, JSON.stringify(body)).toBe(200);
    if (body.status !== 'PENDING' && body.status !== 'PROCESSING') return body;
  }
}

/** `GET /jobs`: jobs by status across every replica. */
export async function jobCounts(url: string): Promise<{ pending: number; processing: number; succeeded: number; failed: number }> {
  const response = await fetch(`${url}/jobs`);
  expect(response.status).toBe(200);
  return (await response.json()) as { pending: number; processing: number; succeeded: number; failed: number };
}

/** Requests this gateway's scheduler took for one version (sync and async): counts executions of jobs. */
export async function versionRequests(url: string, model: string, version = 1): Promise<number> {
  const body = (await (await fetch(`${url}/models/${model}`)).json()) as { versions: Array<{ version: number; stats?: { requests?: number } }> };
  return body.versions.find((v) => v.version === version)?.stats?.requests ?? 0;
}
