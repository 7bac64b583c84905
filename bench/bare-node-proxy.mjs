// The Node floor for bench/run.sh (target "node"): the least a forward proxy on
// node:http and undici can do — absolute-URI GET relayed through an undici Agent with
// hop-by-hop headers removed, and CONNECT spliced to a TCP socket. No policy, no log, no
// limits, no error pages. What egressd costs on top of this is egressd's own work; what
// this costs against Squid is Node's. Run by hand only; it listens on 127.0.0.1.
//
//   node bench/bare-node-proxy.mjs PORT
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { Agent } from 'undici';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/bare-node-proxy.mjs PORT');
  process.exit(2);
}
const agent = new Agent({ connections: 256 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function strip(raw, toString) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = toString ? raw[i].toString('latin1') : raw[i];
    if (!HOP.has(name.toLowerCase())) out.push(name, toString ? raw[i + 1].toString('latin1') : raw[i + 1]);
  }
  return out;
}

const server = createServer((req, res) => {
  let url;
  try {
    url = new URL(req.url);
  } catch {
    res.writeHead(400).end();
    return;
  }
  const body = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined ? req : null;
  let resume = null;
  res.on('drain', () => resume?.());
  agent.dispatch(
    { origin: url.origin, path: url.pathname + url.search, method: req.method, headers: strip(req.rawHeaders, false), body },
    {
      onConnect() {},
      onHeaders(status, raw, r) {
        resume = r;
        res.writeHead(status, strip(raw, true));
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError() {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      },
    },
  );
});

server.on('connect', (req, client, head) => {
  const [host, p] = req.url.split(':');
  const upstream = connect(Number(p), host, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  const close = () => {
    upstream.destroy();
    client.destroy();
  };
  upstream.on('error', close);
  client.on('error', close);
});

server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
