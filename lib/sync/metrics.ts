// Prometheus metrics of a realize-sync run (prom-client): served on
// --metrics-addr while running and/or pushed to a Pushgateway at the end.
import { createServer, type Server } from 'node:http';
import client from 'prom-client';
import type { Address } from '../model/address.js';
import { RealizeError } from '../model/errors.js';
import type { Method } from './transfer.js';

export class SyncMetrics {
  readonly registry = new client.Registry();
  readonly filesStarted = new client.Counter({ name: 'realize_sync_files_started_total', help: 'Files whose transfer started', registers: [this.registry] });
  readonly filesFinished = new client.Counter({ name: 'realize_sync_files_finished_total', help: 'Files finished, by status', labelNames: ['status'], registers: [this.registry] });
  readonly bytes = new client.Counter({ name: 'realize_sync_bytes_total', help: 'File bytes brought level, by method', labelNames: ['method'], registers: [this.registry] });
  readonly fallbacks = new client.Counter({ name: 'realize_sync_delta_fallbacks_total', help: 'Ranges sent whole after a delta did not pay off', registers: [this.registry] });
  readonly wire = new client.Gauge({ name: 'realize_sync_wire_bytes', help: 'Bytes that crossed the transport, by direction', labelNames: ['direction'], registers: [this.registry] });
  #server?: Server;

  byMethod(bytes: number, method: Method): void {
    this.bytes.inc({ method }, bytes);
  }

  async serve(addr: Address): Promise<void> {
    this.#server = createServer((_req, res) => {
      this.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(text);
      }, () => res.writeHead(500).end());
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', (e: NodeJS.ErrnoException) => reject(new RealizeError('usage', `cannot serve metrics on ${addr.host}:${addr.port}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`)));
      this.#server!.listen(addr.port, addr.host, () => resolve());
    });
  }

  async push(url: string, job: string, instance?: string): Promise<void> {
    const gateway = new client.Pushgateway(url, { timeout: 10_000 }, this.registry);
    try {
      await gateway.pushAdd({ jobName: job, groupings: instance ? { instance } : undefined });
    } catch (err) {
      throw new RealizeError('network', `metrics push to ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  close(): void {
    this.#server?.close();
  }
}
