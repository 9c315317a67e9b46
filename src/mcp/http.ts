/**
 * The MCP server over streamable HTTP: `POST/GET/DELETE /mcp` (a session per client, each its own SDK
 * server over one bridge and one result store), and `GET /results/<id>`, the raw bytes of a result kept on
 * the server (what a `resource_link` names). Loopback by default; requests whose `Host` (or `Origin`) is
 * not this server's are refused (DNS rebinding); bound beyond loopback it needs a bearer `token`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Bridge } from '../bridge-api.js';
import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { SERVER_OPTION_KEYS, serverOver, type McpServerOptions } from './server.js';
import { DatasetBytes, RESULT_PREFIX, ResultStore } from './result-store.js';

export interface McpHttpOptions extends McpServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Required bearer token (`Authorization: Bearer <token>`); needed to listen beyond loopback. */
  token?: string;
  /** More `Host` values to accept (a name the server is reached by). */
  allowedHosts?: string[];
}

export interface McpHttpServer {
  /** `http://host:port/mcp`. */
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Serves `bridge`'s tools over MCP's streamable HTTP transport; resolves once it listens. */
export async function serveMcpHttp(bridge: Bridge, options: McpHttpOptions = {}): Promise<McpHttpServer> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`serveMcpHttp options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['host', 'port', 'token', 'allowedHosts', ...SERVER_OPTION_KEYS]);
  const { host = '127.0.0.1', port = 0, token, allowedHosts = [] } = options;
  if (!LOOPBACK.has(host) && !token) {
    throw new InvalidOptionsError(`serveMcpHttp: listening on ${host} (beyond loopback) needs a token`);
  }
  const { datasets } = options;
  const serverOptions: McpServerOptions = Object.fromEntries(
    SERVER_OPTION_KEYS.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
  );
  const store = new ResultStore(options.maxResults ?? 64, options.maxResultBytes ?? 256 * 2 ** 20);
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  /** Datasets as bytes, encoded on their first read, by any session or the side endpoint. */
  const datasetBytes = new DatasetBytes();
  let hosts: string[] = [];

  const refuse = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!hosts.includes(req.headers.host ?? '')) return refuse(res, 403, 'unknown Host');
    const origin = req.headers.origin;
    if (origin !== undefined && !hosts.some((h) => origin === `http://${h}` || origin === `https://${h}`)) {
      return refuse(res, 403, 'unknown Origin');
    }
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      res.setHeader('www-authenticate', 'Bearer');
      return refuse(res, 401, 'a bearer token is required');
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && path.startsWith('/results/')) {
      const stored = store.get(`${RESULT_PREFIX}${path.slice('/results/'.length)}`);
      if (!stored) return refuse(res, 404, 'no such result');
      res.writeHead(200, { 'content-type': stored.mimeType, 'content-length': stored.bytes.byteLength });
      return void res.end(stored.bytes);
    }
    if (req.method === 'GET' && path.startsWith('/datasets/')) {
      const name = decodeURIComponent(path.slice('/datasets/'.length));
      if (datasets === undefined || !Object.hasOwn(datasets, name)) return refuse(res, 404, 'no such dataset');
      const { mimeType, bytes } = await datasetBytes.get(name, datasets[name]);
      res.writeHead(200, { 'content-type': mimeType, 'content-length': bytes.byteLength });
      return void res.end(bytes);
    }
    if (path !== '/mcp') return refuse(res, 404, 'not found');
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (transport === undefined) {
      if (id !== undefined) return refuse(res, 404, 'no such session');
      const fresh: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, fresh),
      });
      fresh.onclose = () => {
        if (fresh.sessionId) sessions.delete(fresh.sessionId);
      };
      await serverOver(bridge, serverOptions, { store, datasetBytes }).connect(fresh);
      transport = fresh;
    }
    await transport.handleRequest(req, res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) refuse(res, 500, error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const named = host.includes(':') ? `[${host}]` : host;
  hosts = [`${named}:${bound}`, `localhost:${bound}`, `127.0.0.1:${bound}`, `[::1]:${bound}`, ...allowedHosts];
  return {
    url: `http://${named}:${bound}/mcp`,
    async close() {
      await Promise.all([...sessions.values()].map((t) => t.close().catch(() => undefined)));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
