/** The CLI's commands that act on a running platform (trigger, clear, pools, backfill) call its API. */

export const out = (line = '') => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One JSON request to the Updraft API; an unreachable API is an error that says so. */
export async function callApi(
  apiUrl: string,
  path: string,
  init: RequestInit = {},
): Promise<ApiAnswer> {
  let res: Response;
  try {
    res = await fetch(new URL(path, apiUrl), {
      ...init,
      headers: { 'content-type': 'application/json' },
    });
  } catch (error) {
    throw new Error(
      `cannot reach the Updraft API at ${apiUrl} (is it running?): ${(error as Error).message}`,
    );
  }
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
