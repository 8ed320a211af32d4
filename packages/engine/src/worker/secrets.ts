/** Keeps secret values out of task logs and results. */

const SENSITIVE_NAME =
  /(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|auth)/i;

/** Values of variables whose names look sensitive (at least 4 characters, to avoid masking noise). */
export function sensitiveValues(vars: Record<string, string>): string[] {
  return Object.entries(vars)
    .filter(([name, value]) => SENSITIVE_NAME.test(name) && value.length >= 4)
    .map(([, value]) => value);
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
