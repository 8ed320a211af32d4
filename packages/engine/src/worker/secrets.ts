/** Keeps secret values out of task logs and results. */

const SENSITIVE_NAME =
  /(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|auth)/i;

/** Values of variables whose names look sensitive (at least 4 characters, to avoid masking noise). */
export function sensitiveValues(vars: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(vars)
    .filter(
      (entry): entry is [string, string] =>
        typeof entry[1] === 'string' && SENSITIVE_NAME.test(entry[0]) && entry[1].length >= 4,
    )
    .map(([, value]) => value);
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/**
 * Masks a stream of text that arrives in chunks (a process's output, a container's log). A secret
 * may be split across two chunks, so the end of a chunk that could begin a secret is held back
 * until the next chunk (or `end`) shows whether it does. Text that cannot begin one passes at once.
 */
export interface SecretMasker {
  /** The masked text that is safe to write now. */
  push(chunk: string): string;
  /** The rest, masked, when the stream ends. */
  end(): string;
}

export function secretMasker(secrets: readonly string[]): SecretMasker {
  const wanted = secrets.filter((s) => s.length > 0);
  let held = '';
  return {
    push(chunk) {
      if (wanted.length === 0) return chunk;
      const text = maskSecrets(held + chunk, wanted);
      const keep = longestSecretStart(text, wanted);
      held = text.slice(text.length - keep);
      return text.slice(0, text.length - keep);
    },
    end() {
      const rest = maskSecrets(held, wanted);
      held = '';
      return rest;
    },
  };
}

/** Length of the longest end of `text` that is the start of a secret (and not a whole one). */
function longestSecretStart(text: string, secrets: readonly string[]): number {
  let longest = 0;
  for (const secret of secrets) {
    for (let n = Math.min(secret.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(secret.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
