import { createServer, type AddressInfo } from 'node:net';

/** A TCP port free on 127.0.0.1 now (another process may take it before it is used: for sandboxes and tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
