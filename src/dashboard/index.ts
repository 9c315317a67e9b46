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
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bridge } from '../bridge.js';
import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { dashboardPage } from './page.js';

export interface DashboardOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** The interface to listen on. Loopback by default: the figures name your tools and their load. @default '127.0.0.1' */
  host?: string;
  /** How often the page polls, in milliseconds. @default 1000 */
  intervalMs?: number;
  /**
   * A secret every request must carry, as `Authorization: Bearer <token>` or `?token=<token>` (open the page
   * as `url + '?token=...'`). Required to listen beyond loopback, unless `allowUnauthenticated` is set.
   */
  token?: string;
  /**
   * Further `Host` header values to accept (`dashboard.example.com:9464`), when no `token` is set. By
   * default only the loopback names and the bound address are: a page on another site that rebinds its
   * DNS name to this machine cannot read the figures.
   * @default []
   */
  allowedHosts?: readonly string[];
  /** Listen beyond loopback without a `token`: anyone who reaches the port reads the figures. @default false */
  allowUnauthenticated?: boolean;
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

const OPTION_KEYS = [
  'port',
  'host',
  'intervalMs',
  'token',
  'allowedHosts',
  'allowUnauthenticated',
] as const satisfies ReadonlyArray<keyof DashboardOptions>;

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The request carries the token, as a Bearer header or a `token` query parameter (compared in constant time). */
function carriesToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ')
    ? header.slice(7)
    : new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (given === null || given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function serveDashboard(bridge: Bridge, options: DashboardOptions = {}): Promise<Dashboard> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`serveDashboard: options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('serveDashboard options', options, OPTION_KEYS);
  const {
    port = 0,
    host = '127.0.0.1',
    intervalMs = 1000,
    token,
    allowedHosts = [],
    allowUnauthenticated = false,
  } = options;
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
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
    throw new InvalidOptionsError(
      `serveDashboard: token must be a string of at least 16 characters, got ${typeof token === 'string' ? `${token.length} characters` : describeValue(token)}`,
    );
  }
  if (!Array.isArray(allowedHosts) || !allowedHosts.every((h) => typeof h === 'string' && h !== '')) {
    throw new InvalidOptionsError(
      `serveDashboard: allowedHosts must be an array of host names, got ${describeValue(allowedHosts)}`,
    );
  }
  if (typeof allowUnauthenticated !== 'boolean') {
    throw new InvalidOptionsError(
      `serveDashboard: allowUnauthenticated must be a boolean, got ${describeValue(allowUnauthenticated)}`,
    );
  }
  if (!isLoopback(host) && token === undefined && !allowUnauthenticated) {
    throw new InvalidOptionsError(
      `serveDashboard: listening on ${host} (beyond loopback) needs a token, or allowUnauthenticated: true to let anyone who reaches the port read the figures`,
    );
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

  let hosts: ReadonlySet<string> = new Set();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (token !== undefined) {
      if (!carriesToken(req, token)) {
        return send(res, 401, 'text/plain; charset=utf-8', 'Unauthorized\n', { 'www-authenticate': 'Bearer' });
      }
    } else if (!hosts.has((req.headers.host ?? '').toLowerCase())) {
      // A DNS-rebinding page reaches this server under its own name: refused.
      return send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: unexpected Host header\n');
    }
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
  hosts = new Set(
    [...LOOPBACK_NAMES, shown, host.includes(':') && !host.startsWith('[') ? `[${host}]` : host]
      .map((name) => `${name}:${address.port}`)
      .concat(allowedHosts)
      .map((name) => name.toLowerCase()),
  );
  return {
    url: `http://${shown}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
