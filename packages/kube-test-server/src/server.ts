/**
 * FOR TESTS AND DEMOS ONLY. A plain-HTTP server that speaks the slice of the Kubernetes REST API
 * Updraft uses (namespaces, pods with watch and logs, events, secrets, configmaps), backed by an
 * in-memory store and a simulated one-node kubelet. It is not a Kubernetes implementation: no
 * auth, no admission, no persistence, one node.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AllowedImage, imageRepository, Kubelet, type ScenarioRule } from './kubelet.ts';
import { parseTimeNs } from './logs.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.ts';
import {
  alreadyExists,
  badRequest,
  failure,
  invalid,
  notFound,
  type StatusObject,
} from './status.ts';
import {
  CLUSTER_SCOPED,
  KINDS,
  type KObject,
  matchesFilter,
  Store,
  type WatchFilter,
} from './store.ts';
import { validateName, validatePod } from './validate.ts';

export interface KubeTestServerOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /**
   * Images (repository without tag/registry, e.g. `busybox`) whose containers really run as local
   * processes. A list, or a map to give an image a default entrypoint. Default:
   * `updraft/test-runner`, `busybox`, `node` (entrypoint `node`).
   */
  allowImages?: readonly string[] | Readonly<Record<string, AllowedImage>>;
  /** Namespaces that exist at start. Default `['default']`. */
  namespaces?: readonly string[];
  /** Delay of each simulated kubelet step (schedule, pull, start), ms. Default 10. */
  stepMs?: number;
  /** Interval of watch BOOKMARK events when the client allows them, ms. Default 5000. */
  bookmarkMs?: number;
  /** Caps the termination grace period of deleted pods, ms. Default 2000. */
  maxGraceMs?: number;
  /** Labels of the single node (matched against pod nodeSelector). */
  nodeLabels?: Readonly<Record<string, string>>;
  /** Allocatable of the node; pods requesting more stay Unschedulable. Default 4 CPUs, 8 GiB. */
  capacity?: { cpuMillis: number; memoryBytes: number };
  /** How many watch events are kept for resumption (older → 410 Gone). Default 10000. */
  historyLimit?: number;
}

export interface ScenarioApi {
  /** Applies `rule.kind` to future pods that match; returns a function that removes the rule. */
  add(rule: ScenarioRule): () => void;
  /** Kills a running pod's containers as the OOM killer would (OOMKilled, exit 137). */
  oomKill(namespace: string, name: string): boolean;
  /** Evicts a pod (phase Failed, status.reason Evicted). */
  evict(namespace: string, name: string, message?: string): boolean;
  /** The pod's node disappears: phase Failed, reason NodeLost; with `deletePod` it is removed. */
  nodeLost(namespace: string, name: string, opts?: { deletePod?: boolean }): boolean;
  /**
   * Cuts open watch and/or follow-log connections mid-stream (as a load balancer or an API server
   * restart would); returns how many were cut.
   */
  dropConnections(which?: { watches?: boolean; logs?: boolean }): number;
}

export interface KubeTestServer {
  url: string;
  /** A kubeconfig file (context `updraft-test`) pointing at this server. */
  kubeconfigPath: string;
  kubeconfigYaml: string;
  stats: {
    /** Pods successfully created (POST), optionally only in a namespace / matching a label selector. */
    podsCreated(namespace?: string, labelSelector?: string): number;
  };
  scenario: ScenarioApi;
  close(): Promise<void>;
}

const DEFAULT_IMAGES: Record<string, AllowedImage> = {
  'updraft/test-runner': {},
  busybox: {},
  node: { entrypoint: ['node'] },
};

type Json = Record<string, unknown>;

class HttpError extends Error {
  readonly status: StatusObject;
  constructor(status: StatusObject) {
    super(status.message);
    this.status = status;
  }
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('not an object');
    }
    return parsed as Json;
  } catch {
    throw new HttpError(badRequest('the request body is not a JSON object'));
  }
}

export function kubeconfigFor(url: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: updraft-test',
    '    cluster:',
    `      server: ${url}`,
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: updraft-test',
    '    user:',
    '      token: updraft-test-token',
    'contexts:',
    '  - name: updraft-test',
    '    context:',
    '      cluster: updraft-test',
    '      user: updraft-test',
    '      namespace: default',
    'current-context: updraft-test',
    '',
  ].join('\n');
}

/** Starts the server on 127.0.0.1. FOR TESTS AND DEMOS ONLY. */
export async function startKubeTestServer(
  options: KubeTestServerOptions = {},
): Promise<KubeTestServer> {
  const store = new Store(options.historyLimit ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'updraft-kube-test-'));
  const allow = new Map<string, AllowedImage>();
  const images = options.allowImages ?? DEFAULT_IMAGES;
  if (Array.isArray(images)) {
    for (const i of images as readonly string[])
      allow.set(imageRepository(i), DEFAULT_IMAGES[i] ?? {});
  } else {
    for (const [i, v] of Object.entries(images as Record<string, AllowedImage>)) {
      allow.set(imageRepository(i), v);
    }
  }
  const rules: ScenarioRule[] = [];
  const kubelet = new Kubelet({
    store,
    allowImages: allow,
    rules,
    stepMs: options.stepMs ?? 10,
    nodeName: 'updraft-test-node',
    nodeLabels: options.nodeLabels ?? {
      'kubernetes.io/hostname': 'updraft-test-node',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64',
    },
    capacity: options.capacity ?? { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 },
    workDir: join(dir, 'pods'),
    maxGraceMs: options.maxGraceMs ?? 2000,
    memorySampleMs: 25,
  });
  const created: KObject[] = [];
  const bookmarkMs = options.bookmarkMs ?? 5000;
  const openResponses = new Set<ServerResponse>();
  const watchStreams = new Set<ServerResponse>();
  const logStreams = new Set<ServerResponse>();

  for (const ns of options.namespaces ?? ['default']) createNamespace(ns);

  function createNamespace(name: string): KObject {
    return store.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }

  function requireNamespace(ns: string): void {
    if (!store.get('namespaces', undefined, ns)) throw new HttpError(notFound('namespaces', ns));
  }

  function filterFrom(
    resource: string,
    namespace: string | undefined,
    q: URLSearchParams,
  ): WatchFilter {
    try {
      return {
        resource,
        namespace,
        labels: parseLabelSelector(q.get('labelSelector')),
        fields: parseFieldSelector(q.get('fieldSelector')),
      };
    } catch (err) {
      if (err instanceof SelectorError) throw new HttpError(badRequest(err.message));
      throw err;
    }
  }

  function list(resource: string, namespace: string | undefined, q: URLSearchParams): Json {
    const items = store
      .list(filterFrom(resource, namespace, q))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    return {
      kind: `${KINDS[resource]}List`,
      apiVersion: 'v1',
      metadata: { resourceVersion: String(store.resourceVersion) },
      items,
    };
  }

  function watch(
    req: IncomingMessage,
    res: ServerResponse,
    resource: string,
    namespace: string | undefined,
    q: URLSearchParams,
  ): void {
    const filter = filterFrom(resource, namespace, q);
    const rvParam = q.get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    openResponses.add(res);
    watchStreams.add(res);
    const write = (type: string, object: unknown): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    let rv = rvParam && rvParam !== '0' ? Number(rvParam) : Number.NaN;
    if (rvParam && rvParam !== '0' && (!Number.isInteger(rv) || rv < 0)) {
      write('ERROR', badRequest(`invalid resource version: ${rvParam}`));
      res.end();
      return;
    }
    if (!Number.isNaN(rv) && rv < store.oldestResumableVersion) {
      write(
        'ERROR',
        failure(
          410,
          'Expired',
          `too old resource version: ${rv} (${store.oldestResumableVersion})`,
        ),
      );
      res.end();
      openResponses.delete(res);
      return;
    }
    if (Number.isNaN(rv)) {
      for (const obj of store.list(filter)) write('ADDED', obj);
      rv = store.resourceVersion;
    } else {
      for (const e of store.historySince(rv)) {
        if (
          e.object.metadata &&
          matchesFilter(filter, e.object) &&
          resourceOf(e.object) === resource
        ) {
          write(e.type, e.object);
        }
      }
    }
    const unsubscribe = store.subscribe((e) => {
      if (resourceOf(e.object) === resource && matchesFilter(filter, e.object)) {
        write(e.type, e.object);
      }
    });
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true') {
      const kind = KINDS[resource];
      timers.push(
        setInterval(() => {
          write('BOOKMARK', {
            kind,
            apiVersion: 'v1',
            metadata: { resourceVersion: String(store.resourceVersion) },
          });
        }, bookmarkMs),
      );
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '');
    if (timeoutSeconds > 0) {
      timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    }
    const cleanup = (): void => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      openResponses.delete(res);
      watchStreams.delete(res);
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
  }

  function podLog(res: ServerResponse, namespace: string, name: string, q: URLSearchParams): void {
    const pod = store.get('pods', namespace, name);
    if (!pod) throw new HttpError(notFound('pods', name));
    const containers = (((pod.spec as Json | undefined)?.containers ?? []) as Json[]).map((c) =>
      String(c.name),
    );
    let container = q.get('container') ?? '';
    if (container === '') {
      if (containers.length !== 1) {
        throw new HttpError(
          badRequest(
            `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
          ),
        );
      }
      container = containers[0] ?? '';
    }
    if (!containers.includes(container)) {
      throw new HttpError(badRequest(`container ${container} is not valid for pod ${name}`));
    }
    const log = kubelet.logsFor(pod.metadata.uid ?? '', container);
    if (!log) {
      const statuses = ((pod.status as Json | undefined)?.containerStatuses ?? []) as Json[];
      const st = statuses.find((s) => s.name === container)?.state as Json | undefined;
      const waiting = (st?.waiting as Json | undefined)?.reason ?? 'ContainerCreating';
      throw new HttpError(
        badRequest(
          `container "${container}" in pod "${name}" is waiting to start: ${String(waiting)}`,
        ),
      );
    }
    const timestamps = q.get('timestamps') === 'true';
    const sinceParam = q.get('sinceTime');
    const sinceSeconds = Number(q.get('sinceSeconds') ?? '');
    let since: bigint | undefined;
    if (sinceParam) {
      since = parseTimeNs(sinceParam);
      if (since === undefined) throw new HttpError(badRequest(`invalid sinceTime: ${sinceParam}`));
    } else if (sinceSeconds > 0) {
      since = BigInt(Date.now() - sinceSeconds * 1000) * 1_000_000n;
    }
    const tailParam = q.get('tailLines');
    const tail = tailParam !== null && tailParam !== '' ? Number(tailParam) : undefined;
    let limit = Number(q.get('limitBytes') ?? '') || Number.POSITIVE_INFINITY;
    const format = (e: { ts: string; text: string }): string =>
      timestamps ? `${e.ts} ${e.text}` : e.text;
    let entries = log.entries.filter((e) => since === undefined || e.ns >= since);
    if (tail !== undefined && tail >= 0) entries = tail === 0 ? [] : entries.slice(-tail);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const emit = (text: string): boolean => {
      if (limit <= 0) return false;
      const buf = Buffer.from(text, 'utf8');
      const part = buf.length > limit ? buf.subarray(0, limit) : buf;
      limit -= part.length;
      res.write(part);
      return limit > 0;
    };
    for (const e of entries) if (!emit(format(e))) break;
    if (q.get('follow') !== 'true' || log.done || limit <= 0) {
      res.end();
      return;
    }
    openResponses.add(res);
    logStreams.add(res);
    const stop = log.follow((e) => {
      if (e === null || !emit(format(e))) {
        stop();
        res.end();
        openResponses.delete(res);
        logStreams.delete(res);
      }
    });
    res.on('close', () => {
      stop();
      openResponses.delete(res);
      logStreams.delete(res);
    });
  }

  function resourceOf(obj: KObject): string | undefined {
    return Object.entries(KINDS).find(([, kind]) => kind === obj.kind)?.[0];
  }

  function createObject(resource: string, namespace: string | undefined, body: Json): KObject {
    const kind = KINDS[resource] ?? '';
    const meta = (body.metadata ?? {}) as Json;
    let name = typeof meta.name === 'string' ? meta.name : '';
    if (name === '' && typeof meta.generateName === 'string') {
      name = `${meta.generateName}${Math.random().toString(36).slice(2, 7)}`;
    }
    const obj = { ...body, apiVersion: 'v1', kind, metadata: { ...meta, name } } as KObject;
    if (namespace !== undefined) obj.metadata.namespace = namespace;
    if (
      namespace !== undefined &&
      typeof meta.namespace === 'string' &&
      meta.namespace !== namespace
    ) {
      throw new HttpError(
        badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        ),
      );
    }
    const causes =
      resource === 'pods' ? validatePod(obj) : validateName(name, resource === 'namespaces');
    if (causes.length > 0) throw new HttpError(invalid(kind, name, causes));
    if (store.get(resource, namespace, name)) throw new HttpError(alreadyExists(resource, name));
    if (resource === 'secrets' && obj.stringData && typeof obj.stringData === 'object') {
      const data = { ...((obj.data ?? {}) as Record<string, string>) };
      for (const [k, v] of Object.entries(obj.stringData as Record<string, string>)) {
        data[k] = Buffer.from(v, 'utf8').toString('base64');
      }
      obj.data = data;
      delete obj.stringData;
      obj.type ??= 'Opaque';
    }
    if (resource === 'pods') applyPodDefaults(obj);
    if (resource === 'namespaces') {
      obj.status = { phase: 'Active' };
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
    }
    const stored = store.create(resource, obj);
    if (resource === 'pods') {
      created.push(stored);
      kubelet.podAdded(stored);
    }
    return stored;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
    if (url.pathname === '/version') {
      sendJson(res, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-updraft-test' });
      return;
    }
    if (url.pathname === '/healthz' || url.pathname === '/readyz' || url.pathname === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1') {
      throw new HttpError(
        failure(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    const rest = parts.slice(2);
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    // Cluster-wide list/watch: /api/v1/{resource}
    if (
      rest.length === 1 &&
      rest[0] !== undefined &&
      rest[0] in KINDS &&
      rest[0] !== 'namespaces'
    ) {
      if (method !== 'GET') throw new HttpError(methodNotAllowed());
      if (isWatch) return watch(req, res, rest[0], undefined, q);
      return sendJson(res, 200, list(rest[0], undefined, q));
    }
    if (rest[0] !== 'namespaces') {
      throw new HttpError(
        failure(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    const [, ns, resource, name, sub] = rest;
    if (ns === undefined) {
      // /api/v1/namespaces
      if (method === 'GET') {
        if (isWatch) return watch(req, res, 'namespaces', undefined, q);
        return sendJson(res, 200, list('namespaces', undefined, q));
      }
      if (method === 'POST')
        return sendJson(res, 201, createObject('namespaces', undefined, await readBody(req)));
      throw new HttpError(methodNotAllowed());
    }
    if (resource === undefined) {
      const obj = store.get('namespaces', undefined, ns);
      if (!obj) throw new HttpError(notFound('namespaces', ns));
      if (method === 'GET') return sendJson(res, 200, obj);
      if (method === 'DELETE') {
        for (const r of Object.keys(KINDS)) {
          if (r === 'namespaces') continue;
          for (const o of store.list({ resource: r, namespace: ns, labels: [], fields: [] })) {
            if (r === 'pods') kubelet.deletePod(o, 0);
            else store.remove(r, ns, o.metadata.name);
          }
        }
        return sendJson(res, 200, store.remove('namespaces', undefined, ns));
      }
      throw new HttpError(methodNotAllowed());
    }
    if (!(resource in KINDS) || CLUSTER_SCOPED.has(resource)) {
      throw new HttpError(
        failure(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    if (name === undefined) {
      if (method === 'GET') {
        if (isWatch) return watch(req, res, resource, ns, q);
        return sendJson(res, 200, list(resource, ns, q));
      }
      if (method === 'POST') {
        const body = await readBody(req);
        requireNamespace(ns);
        return sendJson(res, 201, createObject(resource, ns, body));
      }
      throw new HttpError(methodNotAllowed());
    }
    if (sub === 'log' && resource === 'pods') {
      if (method !== 'GET') throw new HttpError(methodNotAllowed());
      return podLog(res, ns, name, q);
    }
    if (sub !== undefined && !(sub === 'status' && resource === 'pods')) {
      throw new HttpError(
        failure(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    const obj = store.get(resource, ns, name);
    if (!obj) throw new HttpError(notFound(resource, name));
    if (method === 'GET') return sendJson(res, 200, obj);
    if (method === 'DELETE' && sub === undefined) {
      const body = await readBody(req);
      const graceParam = q.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
      const grace =
        graceParam === undefined || graceParam === null ? undefined : Number(graceParam);
      if (resource === 'pods') return sendJson(res, 200, kubelet.deletePod(obj, grace) ?? obj);
      return sendJson(res, 200, store.remove(resource, ns, name));
    }
    throw new HttpError(methodNotAllowed());
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status =
        err instanceof HttpError
          ? err.status
          : failure(500, 'InternalError', `Internal error occurred: ${String(err)}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      sendJson(res, status.code, status);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfigYaml = kubeconfigFor(url);
  const kubeconfigPath = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });

  const uidOf = (namespace: string, name: string): string =>
    store.get('pods', namespace, name)?.metadata.uid ?? '';

  return {
    url,
    kubeconfigPath,
    kubeconfigYaml,
    stats: {
      podsCreated(namespace, labelSelector) {
        const reqs = parseLabelSelector(labelSelector);
        return created.filter((p) =>
          matchesFilter({ resource: 'pods', namespace, labels: reqs, fields: [] }, p),
        ).length;
      },
    },
    scenario: {
      add(rule) {
        const copy = { ...rule };
        rules.push(copy);
        return () => {
          const i = rules.indexOf(copy);
          if (i >= 0) rules.splice(i, 1);
        };
      },
      oomKill: (namespace, name) => kubelet.oomKill(uidOf(namespace, name)),
      evict: (namespace, name, message) => kubelet.evict(uidOf(namespace, name), message),
      nodeLost: (namespace, name, opts) =>
        kubelet.nodeLost(uidOf(namespace, name), opts?.deletePod ?? false),
      dropConnections(which = { watches: true, logs: true }) {
        const victims = [...(which.watches ? watchStreams : []), ...(which.logs ? logStreams : [])];
        for (const res of victims) res.socket?.destroy();
        return victims.length;
      },
    },
    async close() {
      kubelet.close();
      for (const res of openResponses) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function methodNotAllowed(): StatusObject {
  return failure(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}

function applyPodDefaults(pod: KObject): void {
  const spec = (pod.spec ?? {}) as Json;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.serviceAccountName ??= 'default';
  spec.securityContext ??= {};
  for (const c of (spec.containers ?? []) as Json[]) {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    const image = String(c.image);
    const tagged = /:[^/]+$/.test(image.split('@')[0] ?? image);
    c.imagePullPolicy ??= tagged && !image.endsWith(':latest') ? 'IfNotPresent' : 'Always';
    c.resources ??= {};
  }
  const hasLimits = ((spec.containers ?? []) as Json[]).some(
    (c) => Object.keys(((c.resources as Json | undefined)?.limits ?? {}) as Json).length > 0,
  );
  const hasRequests = ((spec.containers ?? []) as Json[]).some(
    (c) => Object.keys(((c.resources as Json | undefined)?.requests ?? {}) as Json).length > 0,
  );
  pod.spec = spec;
  pod.status = {
    phase: 'Pending',
    qosClass: hasLimits || hasRequests ? 'Burstable' : 'BestEffort',
  };
}
