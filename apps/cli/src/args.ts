/** Argument parsers shared by the CLI's commands: a bad value is a usage error naming the problem. */
import { InvalidArgumentError } from 'commander';

/** A --conf value: a JSON object. */
export const jsonObject = (value: string): Record<string, unknown> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidArgumentError('conf must be a JSON object');
  return parsed as Record<string, unknown>;
};
