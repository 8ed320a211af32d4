/**
 * CLI for demos — FOR TESTS AND DEMOS ONLY:
 *   node packages/kube-test-server/src/main.ts [--port 6443] [--namespace team-a ...]
 * prints the kubeconfig path, then serves until interrupted:
 *   KUBECONFIG=<printed path> updraft standalone
 */
import { parseArgs } from 'node:util';
import { startKubeTestServer } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '6443' },
    namespace: { type: 'string', multiple: true, default: [] },
    image: { type: 'string', multiple: true, default: [] },
  },
});
const server = await startKubeTestServer({
  port: Number(values.port),
  namespaces: ['default', ...values.namespace],
  ...(values.image.length > 0 ? { allowImages: values.image } : {}),
});
process.stdout.write(
  `kube-test-server (FOR TESTS AND DEMOS ONLY) listening on ${server.url}\nKUBECONFIG=${server.kubeconfigPath}\n`,
);
const stop = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
