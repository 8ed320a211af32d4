/**
 * Named prepared statements for every query Drizzle sends through postgres.js.
 *
 * Drizzle asks postgres.js for an unnamed statement unless a query is given a name, and postgres.js
 * then describes each parameterised statement before binding it: two round trips, and a fresh
 * parse and plan, per statement. Prepared, a statement costs one round trip from its second use on
 * a connection. Queries whose text varies (lists of values) use `= any(array)` so that the number
 * of distinct statements per connection stays small; connections are recycled (max_lifetime).
 */
import type { Sql } from 'postgres';

type AnySql = Sql<Record<string, never>>;

export function withPreparedStatements<T extends AnySql>(client: T): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, params as never, { ...options, prepare: true });
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (inner: AnySql) => unknown;
          const original = Reflect.get(target, prop, target) as (...a: unknown[]) => unknown;
          return original.call(target, ...args, (inner: AnySql) =>
            fn(withPreparedStatements(inner)),
          );
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
