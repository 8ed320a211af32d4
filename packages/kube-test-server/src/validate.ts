import type { StatusCause } from './status.ts';

/** Validation of the fields the API server rejects with 422 Invalid (a practical subset). */

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const required = (field: string): StatusCause => ({
  reason: 'FieldValueRequired',
  message: 'Required value',
  field,
});
const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
  field,
});

export function validateName(name: unknown, label: boolean): StatusCause[] {
  if (typeof name !== 'string' || name === '') return [required('metadata.name')];
  const re = label ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
  const max = label ? 63 : 253;
  if (name.length > max || !re.test(name)) {
    return [
      invalidValue(
        'metadata.name',
        name,
        `a lowercase RFC 1123 ${label ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most ${max} characters)`,
      ),
    ];
  }
  return [];
}

function validateLabels(labels: unknown): StatusCause[] {
  if (labels === undefined) return [];
  if (labels === null || typeof labels !== 'object') {
    return [invalidValue('metadata.labels', labels, 'must be an object')];
  }
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(labels)) {
    const [prefix, name] = k.includes('/') ? k.split('/', 2) : [undefined, k];
    if (
      !name ||
      name.length > 63 ||
      !QUALIFIED_NAME.test(name) ||
      (prefix !== undefined && !DNS1123_SUBDOMAIN.test(prefix))
    ) {
      causes.push(invalidValue('metadata.labels', k, 'name part must be a valid qualified name'));
    }
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      causes.push(
        invalidValue('metadata.labels', v, 'a valid label must be 63 characters or less'),
      );
    }
  }
  return causes;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export function validatePod(pod: Json): StatusCause[] {
  const meta = isObj(pod.metadata) ? pod.metadata : {};
  const causes: StatusCause[] = [...validateName(meta.name, false), ...validateLabels(meta.labels)];
  const spec = isObj(pod.spec) ? pod.spec : undefined;
  if (!spec) return [...causes, required('spec')];
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(required('spec.containers'));
  } else {
    const seen = new Set<string>();
    containers.forEach((c: unknown, i) => {
      const f = `spec.containers[${i}]`;
      if (!isObj(c)) {
        causes.push(invalidValue(f, c, 'must be an object'));
        return;
      }
      if (typeof c.name !== 'string' || c.name === '') causes.push(required(`${f}.name`));
      else if (!DNS1123_LABEL.test(c.name) || c.name.length > 63) {
        causes.push(invalidValue(`${f}.name`, c.name, 'must be a DNS-1123 label'));
      } else if (seen.has(c.name)) {
        causes.push({
          reason: 'FieldValueDuplicate',
          message: 'Duplicate value',
          field: `${f}.name`,
        });
      } else seen.add(c.name);
      if (typeof c.image !== 'string' || c.image.trim() === '') causes.push(required(`${f}.image`));
      if (Array.isArray(c.env)) {
        c.env.forEach((e: unknown, j) => {
          if (!isObj(e) || typeof e.name !== 'string' || !ENV_NAME.test(e.name)) {
            causes.push(
              invalidValue(`${f}.env[${j}].name`, isObj(e) ? e.name : e, 'invalid env name'),
            );
          }
        });
      }
    });
  }
  const rp = spec.restartPolicy;
  if (rp !== undefined && rp !== 'Always' && rp !== 'OnFailure' && rp !== 'Never') {
    causes.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(rp)}: supported values: "Always", "OnFailure", "Never"`,
      field: 'spec.restartPolicy',
    });
  }
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && (typeof ads !== 'number' || !Number.isInteger(ads) || ads <= 0)) {
    causes.push(invalidValue('spec.activeDeadlineSeconds', ads, 'must be greater than 0'));
  }
  return causes;
}
