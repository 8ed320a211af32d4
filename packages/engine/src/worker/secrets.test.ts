import { describe, expect, it } from 'vitest';
import {
  environmentSecrets,
  maskSecrets,
  maskSensitiveFields,
  secretMasker,
  secretsInJson,
  sensitiveValues,
} from './secrets.ts';

/** Feeds `text` to a masker cut at the given offsets; returns everything it let out. */
function streamed(text: string, cuts: number[], secrets: string[]): string {
  const masker = secretMasker(secrets);
  let out = '';
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    out += masker.push(text.slice(from, cut));
    from = cut;
  }
  return out + masker.end();
}

describe('secrets', () => {
  it("takes from a worker's environment only values that look like secrets", () => {
    expect(
      environmentSecrets({
        API_TOKEN: 's3cret-token',
        SKIP_AUTH: 'true',
        AUTH_MODE: 'disabled',
        DB_PASSWORD: 'Hunter2!',
        HOME: '/root/very-long-path',
      }),
    ).toEqual(['s3cret-token', 'Hunter2!']);
  });

  it('masks string values of sensitive-looking fields at any depth, and nothing else', () => {
    expect(
      maskSensitiveFields({
        rows: 5,
        api_token: 'tok-1',
        max_tokens: 100,
        db: { password: 'pw', host: 'h', auth: { user: 'u' } },
        list: [{ secret: 's' }, 'secret'],
      }),
    ).toEqual({
      rows: 5,
      api_token: '***',
      max_tokens: 100,
      db: { password: '***', host: 'h', auth: { user: 'u' } },
      list: [{ secret: '***' }, 'secret'],
    });
  });

  it('masks the strings of arrays and the numbers named like secrets, and passwords in URLs', () => {
    const conf = {
      api_tokens: ['ghp_one', ['ghp_two']],
      password: 12345678,
      max_tokens: 100,
      auth: { user: 'u', pass: 'p4ss' },
      db_url: 'postgres://user:pw123@host/db and https://example.com/a@b',
      passport: 'X1234',
      auth_mode: 'none',
    };
    expect(maskSensitiveFields(conf)).toEqual({
      api_tokens: ['***', ['***']],
      password: '***',
      max_tokens: 100,
      auth: { user: 'u', pass: '***' },
      db_url: 'postgres://user:***@host/db and https://example.com/a@b',
      passport: 'X1234',
      auth_mode: '***',
    });
    // The same values to mask in task logs, but for those too short or plain to be told from
    // ordinary words there ('p4ss', 'none').
    expect(secretsInJson(conf).sort()).toEqual(['12345678', 'ghp_one', 'ghp_two', 'pw123']);
  });

  it("takes the passwords of URLs in the worker's environment, whatever the variable's name", () => {
    expect(
      environmentSecrets({
        DATABASE_URL: 'postgres://updraft:Db-Secret-9@db:5432/updraft',
        CACHE_URL: 'redis://cache:6379',
        LOCAL_URL: 'postgres://me:postgres@localhost/db',
      }),
    ).toEqual(['Db-Secret-9']);
  });

  it('picks the values of variables named like secrets, of at least 4 characters', () => {
    expect(
      sensitiveValues({
        API_TOKEN: 'abcd1234',
        DB_PASSWORD: 'pw',
        REGION: 'eu-west-1',
        auth_header: 'Bearer x',
        SECRET_REF: { secretKeyRef: { name: 's', key: 'k' } },
      }),
    ).toEqual(['abcd1234', 'Bearer x']);
  });

  it('masks a secret split across chunks at every possible cut', () => {
    const secret = 'hunter2supersecretXYZ';
    const text = `before ${secret} between ${secret}\nafter`;
    for (let cut = 0; cut <= text.length; cut++) {
      const out = streamed(text, [cut], [secret]);
      expect(out, `cut at ${cut}`).toBe('before *** between ***\nafter');
    }
  });

  it('masks a secret that arrives a character at a time', () => {
    const text = 'x=abcdef; y=ABCDEFGH;';
    const cuts = Array.from({ length: text.length }, (_, i) => i);
    expect(streamed(text, cuts, ['abcdef', 'ABCDEFGH'])).toBe('x=***; y=***;');
  });

  it('holds back only what could start a secret, and lets the rest through at once', () => {
    const masker = secretMasker(['token-1234']);
    expect(masker.push('plain text, no secret here\n')).toBe('plain text, no secret here\n');
    expect(masker.push('value: tok')).toBe('value: ');
    expect(masker.push('yo\n')).toBe('tokyo\n');
    expect(masker.push('tail tok')).toBe('tail ');
    expect(masker.end()).toBe('tok');
  });

  it('masks as the whole stream would be masked, with secrets inside others, at every cut', () => {
    // A key, and credentials that contain it: the longer is masked whole wherever the cut falls.
    const secrets = ['abcd', 'abcdefgh', 'cdefXY', 'hhhh'];
    const text = 'x abcdefgh y abcd z abcdefXY hhhhhhh abcdefg';
    const whole = maskSecrets(text, secrets);
    expect(whole).toBe('x *** y *** z ***efXY ***hhh ***efg');
    for (let a = 0; a <= text.length; a++)
      for (let b = a; b <= text.length; b++)
        expect(streamed(text, [a, b], secrets), `cuts at ${a}, ${b}`).toBe(whole);
  });

  it('masks the longer of two secrets whole, whatever order they are given in', () => {
    expect(maskSecrets('k=abcdefgh', ['abcd', 'abcdefgh'])).toBe('k=***');
    expect(maskSecrets('k=abcdefgh', ['abcdefgh', 'abcd'])).toBe('k=***');
  });

  it('passes text through untouched when there is no secret', () => {
    const masker = secretMasker([]);
    expect(masker.push('abc')).toBe('abc');
    expect(masker.end()).toBe('');
  });

  it('maskSecrets replaces every occurrence', () => {
    expect(maskSecrets('a s3cr3t b s3cr3t', ['s3cr3t'])).toBe('a *** b ***');
  });
});
