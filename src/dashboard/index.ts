/**
 * `toolbridge/dashboard`: a small HTTP server for a bridge's telemetry. `/` is a live page of charts,
 * `/metrics` the Prometheus exposition, `/stats` the JSON snapshot, `/health` the health report (HTTP 503
 * when unhealthy). Nothing else is served: no files, no other routes.
 *
 * @example
 * import { serveDashboard } from 'toolbridge/dashboard';
 * const dashboard = await serveDashboard(bridge, { port: 9464 });
 * console.log(dashboard.url); // http://127.0.0.1:9464/
 * await dashboard.close();
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bridge } from '../bridge.js';
import { InvalidOptionsError, describeValue } from '../errors.js';
import { dashboardPage } from './page.js';

export interface DashboardOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** The interface to listen on. Loopback by default: the figures name your tools and their load. @default '127.0.0.1' */
  host?: string;
  /** How often the page polls, in milliseconds. @default 1000 */
  intervalMs?: number;
}

export interface Dashboard {
  /** Where the page is, e.g. `http://127.0.0.1:9464/`. */
  readonly url: string;
  /** Stops the server (open connections are closed). */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

export async function serveDashboard(bridge: Bridge, options: DashboardOptions = {}): Promise<Dashboard> {
  const { port = 0, host = '127.0.0.1', intervalMs = 1000 } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionsError(
      `serveDashboard: port must be an integer from 0 to 65535, got ${describeValue(port)}`,
    );
  }
  if (typeof host !== 'string' || host === '') {
    throw new InvalidOptionsError(`serveDashboard: host must be a non-empty string, got ${describeValue(host)}`);
  }
  if (typeof intervalMs !== 'number' || !(intervalMs >= 100)) {
    throw new InvalidOptionsError(`serveDashboard: intervalMs must be at least 100, got ${describeValue(intervalMs)}`);
  }

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...SECURITY_HEADERS,
      ...extra,
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const json = (res: ServerResponse, status: number, value: unknown) =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { allow: 'GET, HEAD' });
    }
    // Only the path matters; a query string is ignored.
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/': {
        const nonce = randomBytes(16).toString('base64');
        return send(res, 200, 'text/html; charset=utf-8', dashboardPage(nonce, intervalMs), {
          'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        });
      }
      case '/metrics':
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', bridge.metrics());
      case '/stats':
        return json(res, 200, bridge.stats());
      case '/health': {
        const health = bridge.health();
        return json(res, health.status === 'unhealthy' ? 503 : 200, health);
      }
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n');
    }
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${String(error)}\n`);
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The dashboard never keeps the process alive by itself.
  server.unref();
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
