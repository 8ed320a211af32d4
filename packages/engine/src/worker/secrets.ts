/** Keeps secret values out of task logs and results. */

const SENSITIVE_NAME =
  /(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|auth|(^|[_-])(pass|pwd)($|[_-]))/i;

/** Names under which a number is a secret (a PIN, a numeric password); `max_tokens: 100` is not. */
const SECRET_NUMBER_NAME =
  /(secret|password|passwd|api[_-]?key|private[_-]?key|credential|(^|[_-])(pass|pwd|pin)($|[_-]))/i;

/** The password of a URL with credentials (`postgres://user:password@host`), whatever its name. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:)([^\s/@]+)@/gi;

/** `text` with the password of every URL in it replaced by `***`. */
function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@');
}

/** Values of variables whose names look sensitive (at least 4 characters, to avoid masking noise). */
export function sensitiveValues(vars: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(vars)
    .filter(
      (entry): entry is [string, string] =>
        typeof entry[1] === 'string' && SENSITIVE_NAME.test(entry[0]) && entry[1].length >= 4,
    )
    .map(([, value]) => value);
}

/**
 * The values of a worker's own environment named like secrets, masked in every task's log. Only
 * values that look like secrets (at least 8 characters, not a plain lowercase word): a machine's
 * environment has flags like SKIP_AUTH=true, and masking every "true" or "disabled" in every log
 * would garble them all.
 */
export function environmentSecrets(env: Readonly<Record<string, unknown>>): string[] {
  // And the passwords of URLs, whatever the variable's name (DATABASE_URL).
  const inUrls = Object.values(env).flatMap((v) =>
    typeof v === 'string' ? [...v.matchAll(URL_PASSWORD)].map((m) => m[2]!) : [],
  );
  return [...new Set([...sensitiveValues(env), ...inUrls])].filter((v) => maskableInLogs(v, 8));
}

/** Long enough, and not a plain lowercase word, to be masked in logs without garbling them. */
function maskableInLogs(value: string, minLength: number): boolean {
  return value.length >= minLength && !/^[a-z]+$/.test(value);
}

/**
 * A JSON value with the values of fields whose names look sensitive replaced by `***`, at any
 * depth (the strings of an array under such a name too; numbers under names of secrets), and the
 * passwords of URLs in any string: what the API shows of a run's conf and of DAG params, which a
 * DAG file may default from a secret.
 */
export function maskSensitiveFields(value: unknown): unknown {
  return visitSecrets(value, undefined, () => {});
}

/**
 * The values maskSensitiveFields hides in a JSON value (a run's conf, DAG params), to mask in task
 * logs: those of at least 5 characters that are not a plain lowercase word. A flag such as
 * `auth_mode: "none"` would otherwise mask every "none" the run's tasks print.
 */
export function secretsInJson(value: unknown): string[] {
  const found: string[] = [];
  visitSecrets(value, undefined, (secret) => {
    if (maskableInLogs(secret, 5)) found.push(secret);
  });
  return [...new Set(found)];
}

/** Masks `value` (see maskSensitiveFields), telling `found` each secret it hides. */
function visitSecrets(
  value: unknown,
  key: string | undefined,
  found: (secret: string) => void,
): unknown {
  // An array's elements are named by the array's own key (`api_tokens: [...]`).
  if (Array.isArray(value)) return value.map((v) => visitSecrets(v, key, found));
  if (typeof value === 'string') {
    if (key !== undefined && SENSITIVE_NAME.test(key)) {
      found(value);
      return '***';
    }
    for (const match of value.matchAll(URL_PASSWORD)) found(match[2]!);
    return maskUrlPasswords(value);
  }
  if (typeof value === 'number' && key !== undefined && SECRET_NUMBER_NAME.test(key)) {
    found(String(value));
    return '***';
  }
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visitSecrets(v, k, found)]));
}

/** Longest first, so a secret that contains another is masked whole, not around the shorter. */
function bySize(secrets: readonly string[]): string[] {
  return [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
}

/**
 * Masks `text` from the left up to `until`: at each position the longest secret starting there
 * becomes `***` (it may run past `until`). Returns the masked text and where it stopped.
 */
function maskFrom(text: string, secrets: readonly string[], until: number) {
  let out = '';
  let i = 0;
  let plain = 0;
  while (i < until) {
    const found = secrets.find((s) => text.startsWith(s, i));
    if (found) {
      out += `${text.slice(plain, i)}***`;
      i += found.length;
      plain = i;
    } else i++;
  }
  return { masked: out + text.slice(plain, i), stop: i };
}

export function maskSecrets(text: string, secrets: readonly string[]): string {
  const sorted = bySize(secrets);
  return sorted.length === 0 ? text : maskFrom(text, sorted, text.length).masked;
}

/**
 * Masks a stream of text that arrives in chunks (a process's output, a container's log). A secret
 * may be split across two chunks, so the end of a chunk that could begin a secret is held back,
 * unmasked, until the next chunk (or `end`) shows whether it does. Text that cannot begin one
 * passes at once. The result is the same as masking the whole stream at once.
 */
export interface SecretMasker {
  /** The masked text that is safe to write now. */
  push(chunk: string): string;
  /** The rest, masked, when the stream ends. */
  end(): string;
}

export function secretMasker(secrets: readonly string[]): SecretMasker {
  const sorted = bySize(secrets);
  let held = '';
  return {
    push(chunk) {
      if (sorted.length === 0) return chunk;
      const text = held + chunk;
      const { masked, stop } = maskFrom(text, sorted, text.length - secretStart(text, sorted));
      held = text.slice(stop);
      return masked;
    },
    end() {
      const rest = maskSecrets(held, sorted);
      held = '';
      return rest;
    },
  };
}

/** Length of the longest end of `text` that is the start of a secret (and not a whole one). */
function secretStart(text: string, secrets: readonly string[]): number {
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
