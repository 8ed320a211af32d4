import { randomUUID } from 'node:crypto';
import type { FieldRequirement, Requirement } from './selectors.ts';
import { matchesFields, matchesLabels } from './selectors.ts';

/** A stored API object: plain JSON, as it goes over the wire. */
export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  type: WatchEventType;
  object: KObject;
  rv: number;
}

export interface WatchFilter {
  resource: string;
  namespace: string | undefined;
  labels: Requirement[];
  fields: FieldRequirement[];
}

type Listener = (event: StoredEvent) => void;

/** The kinds of the resources this server serves (resource name → kind). */
export const KINDS: Readonly<Record<string, string>> = {
  namespaces: 'Namespace',
  pods: 'Pod',
  events: 'Event',
  secrets: 'Secret',
  configmaps: 'ConfigMap',
};

export const CLUSTER_SCOPED: ReadonlySet<string> = new Set(['namespaces']);

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export function matchesFilter(filter: WatchFilter, obj: KObject): boolean {
  if (filter.namespace !== undefined && obj.metadata.namespace !== filter.namespace) return false;
  return matchesLabels(filter.labels, obj.metadata.labels) && matchesFields(filter.fields, obj);
}

/**
 * In-memory object store with one monotonic resourceVersion counter (like etcd's revision),
 * a bounded history for watch resumption, and listeners for live watches.
 */
export class Store {
  #rv = 1;
  readonly #objects = new Map<string, Map<string, KObject>>();
  readonly #history: StoredEvent[] = [];
  readonly #historyLimit: number;
  readonly #listeners = new Set<Listener>();

  constructor(historyLimit = 10_000) {
    this.#historyLimit = historyLimit;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** Oldest resourceVersion a watch may resume from without a 410 Gone. */
  get oldestResumableVersion(): number {
    const first = this.#history[0];
    return first ? first.rv - 1 : this.#rv;
  }

  #bucket(resource: string): Map<string, KObject> {
    let b = this.#objects.get(resource);
    if (!b) {
      b = new Map();
      this.#objects.set(resource, b);
    }
    return b;
  }

  #emit(type: WatchEventType, object: KObject): void {
    const event: StoredEvent = { type, object: structuredClone(object), rv: this.#rv };
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) this.#history.shift();
    for (const l of this.#listeners) l(event);
  }

  get(resource: string, namespace: string | undefined, name: string): KObject | undefined {
    const obj = this.#bucket(resource).get(key(namespace, name));
    return obj ? structuredClone(obj) : undefined;
  }

  list(filter: WatchFilter): KObject[] {
    return [...this.#bucket(filter.resource).values()]
      .filter((o) => matchesFilter(filter, o))
      .map((o) => structuredClone(o));
  }

  /** Adds a new object (the caller checked it does not exist) and returns the stored copy. */
  create(resource: string, obj: KObject): KObject {
    this.#rv++;
    const stored = structuredClone(obj);
    stored.metadata.uid = randomUUID();
    stored.metadata.resourceVersion = String(this.#rv);
    stored.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.#bucket(resource).set(key(stored.metadata.namespace, stored.metadata.name), stored);
    this.#emit('ADDED', stored);
    return structuredClone(stored);
  }

  /** Applies `mutate` to the stored object (if it still exists), bumps its resourceVersion. */
  update(
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (obj: KObject) => void,
  ): KObject | undefined {
    const stored = this.#bucket(resource).get(key(namespace, name));
    if (!stored) return undefined;
    mutate(stored);
    this.#rv++;
    stored.metadata.resourceVersion = String(this.#rv);
    this.#emit('MODIFIED', stored);
    return structuredClone(stored);
  }

  remove(resource: string, namespace: string | undefined, name: string): KObject | undefined {
    const bucket = this.#bucket(resource);
    const stored = bucket.get(key(namespace, name));
    if (!stored) return undefined;
    bucket.delete(key(namespace, name));
    this.#rv++;
    stored.metadata.resourceVersion = String(this.#rv);
    this.#emit('DELETED', stored);
    return structuredClone(stored);
  }

  /** Events after `rv`, oldest first. */
  historySince(rv: number): StoredEvent[] {
    return this.#history.filter((e) => e.rv > rv);
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
