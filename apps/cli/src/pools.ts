/** `updraft pools …` (through a running Updraft API, like Airflow's `airflow pools`). */

import { callApi, err, out } from './api-client.ts';

interface PoolJson {
  name: string;
  slots: number;
  occupied_slots: number;
  running_slots: number;
  queued_slots: number;
  scheduled_slots: number;
  open_slots: number;
  description: string | null;
}

function table(pools: PoolJson[]): void {
  const header = ['pool', 'slots', 'running', 'queued', 'scheduled', 'open', 'description'];
  const rows = pools.map((p) => [
    p.name,
    String(p.slots),
    String(p.running_slots),
    String(p.queued_slots),
    String(p.scheduled_slots),
    String(p.open_slots),
    p.description ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows])
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

export async function poolsList(opts: { apiUrl: string; json: boolean }): Promise<number> {
  const { status, body } = await callApi(opts.apiUrl, '/api/v1/pools');
  if (status !== 200) {
    err(`listing pools failed (${status}): ${String(body.message)}`);
    return 1;
  }
  if (opts.json) out(JSON.stringify(body.pools));
  else table(body.pools as PoolJson[]);
  return 0;
}

/** Creates the pool, or updates its slots (and description) if it exists. */
export async function poolsSet(opts: {
  apiUrl: string;
  name: string;
  slots: number;
  description?: string;
  includeDeferred?: boolean;
}): Promise<number> {
  const fields = {
    slots: opts.slots,
    ...(opts.description !== undefined && { description: opts.description }),
    ...(opts.includeDeferred !== undefined && { include_deferred: opts.includeDeferred }),
  };
  const path = `/api/v1/pools/${encodeURIComponent(opts.name)}`;
  let res = await callApi(opts.apiUrl, path, { method: 'PATCH', body: JSON.stringify(fields) });
  if (res.status === 404) {
    res = await callApi(opts.apiUrl, '/api/v1/pools', {
      method: 'POST',
      body: JSON.stringify({ name: opts.name, ...fields }),
    });
  }
  if (res.status !== 200) {
    err(`setting pool ${opts.name} failed (${res.status}): ${String(res.body.message)}`);
    return 1;
  }
  table([res.body as unknown as PoolJson]);
  return 0;
}

export async function poolsDelete(opts: { apiUrl: string; name: string }): Promise<number> {
  const { status, body } = await callApi(
    opts.apiUrl,
    `/api/v1/pools/${encodeURIComponent(opts.name)}`,
    { method: 'DELETE' },
  );
  if (status !== 204) {
    err(`deleting pool ${opts.name} failed (${status}): ${String(body.message)}`);
    return 1;
  }
  out(`pool ${opts.name} deleted`);
  return 0;
}
