// realize-sync's Prometheus metrics: pushed to a Pushgateway at the end (a
// real HTTP server on loopback stands in for it), exit 12 when the push fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../helpers/net.js';
import { syncJson } from '../helpers/sync.js';
import { makeTree } from '../helpers/tree.js';
import { tempDir } from '../helpers/tmp.js';

test('metrics are pushed to the Pushgateway with the job and instance labels', async () => {
  const dir = tempDir();
  makeTree(join(dir, 'src'), { 'a.bin': 3 * 1024 * 1024, 'b.txt': 'b' });
  const pushes: { method: string; url: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      pushes.push({ method: req.method!, url: req.url!, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const r = await syncJson(['--copy', '--metrics-pushgateway', `http://127.0.0.1:${port}`, '--metrics-job', 'nightly', '--metrics-instance', 'laptop', join(dir, 'src'), join(dir, 'dst')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(pushes.length, 1);
    assert.equal(pushes[0]!.method, 'POST');
    assert.equal(pushes[0]!.url, '/metrics/job/nightly/instance/laptop');
    assert.match(pushes[0]!.body, /realize_sync_files_finished_total\{status="copied"\} 2/);
    assert.match(pushes[0]!.body, /realize_sync_bytes_total\{method="send"\} 3145729/);
  } finally {
    server.close();
  }
});

test('a failed push: the files are done, exit 12', async () => {
  const dir = tempDir();
  makeTree(join(dir, 'src'), { 'a.txt': 'a' });
  const r = await syncJson(['--metrics-pushgateway', `http://127.0.0.1:${await freePort()}`, join(dir, 'src'), join(dir, 'dst')]);
  assert.equal(r.status, 12);
  assert.equal(r.summary!.files_ok, 1);
  assert.match(r.stderr, /metrics push to http:\/\/127\.0\.0\.1:\d+ failed/);
});
