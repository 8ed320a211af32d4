import { customType } from 'drizzle-orm/pg-core';

/**
 * jsonb that both drivers decode exactly once. postgres.js and PGlite already parse json/jsonb
 * results; Drizzle's own jsonb column parses any string it gets again, so a stored JSON string
 * such as "21" came back as the number 21. This column trusts the driver's decoding.
 */
export const jsonb = customType<{ data: unknown; driverData: unknown }>({
  dataType() {
    return 'jsonb';
  },
  toDriver(value) {
    return JSON.stringify(value);
  },
  fromDriver(value) {
    return value;
  },
});
